"""One module per scenario; ``SCENARIOS`` lists them in the order the suite runs them."""

from benchmarks.scenarios import (
    lifecycle_costs,
    local_media,
    mailbox_fanout,
    memory,
    presence_churn,
    soak,
    waiters,
)

SCENARIOS = {
    module.NAME: module
    for module in (
        mailbox_fanout,
        presence_churn,
        waiters,
        memory,
        lifecycle_costs,
        local_media,
        soak,
    )
}
