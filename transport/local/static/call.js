// The browser side of a local call: join with the token in the URL, publish the
// camera and microphone (and the screen on request), show who is in the call.
// Signaling frames are JSON text; the edge answers each with a frame of the same seq.
// The roster comes as a snapshot (Roster) or as a delta from the version the page has
// (RosterDelta); applying them gives the edge's roster, in the order people joined.
// The edge pauses a published video track nobody reads (SendTrack): the page then
// stops sending it, and sends it again when asked.
"use strict";

const SIGNALING_VERSION = 3; // transport/local/signaling.py SIGNALING_VERSION

const TRACK = { AUDIO: 1, VIDEO: 2, SCREEN_SHARE: 3, SCREEN_SHARE_AUDIO: 4 };
const KIND_NAMES = { 1: "audio", 2: "video", 3: "screen", 4: "screen audio" };
const params = new URLSearchParams(location.search);
const callId = decodeURIComponent(location.pathname.split("/").pop());
const token = params.get("token");
const statusLine = document.getElementById("status");
const shareButton = document.getElementById("share");
const leaveButton = document.getElementById("leave");
document.getElementById("call").textContent = callId;

const pc = new RTCPeerConnection({ iceServers: [] });
const replies = new Map();
const localTracks = [];
const senders = new Map(); // published track id -> its RTCRtpSender (for SendTrack)
let seq = 0;
let trackNumber = 0;
let participantId = null;
let socket = null;
const roster = new Map(); // participant id -> entry, in the order they joined
let rosterVersion = null;

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function request(frame) {
  frame.seq = ++seq;
  return new Promise((resolve, reject) => {
    replies.set(frame.seq, { resolve, reject });
    socket.send(JSON.stringify(frame));
  });
}

// The last custom event the agent sent (send_custom_event), shown as JSON text.
function showCustom(data) {
  const box = document.getElementById("custom");
  box.textContent = JSON.stringify(data, null, 2);
  box.classList.remove("empty");
}

// The same rules as RosterView.apply (transport/local/roster.py).
function applyRoster(frame) {
  if (frame.type === "Roster") {
    roster.clear();
    for (const entry of frame.participants) roster.set(entry.participant_id, entry);
  } else {
    if (frame.base !== rosterVersion) return; // the edge sends deltas from the version we have
    for (const id of frame.left) roster.delete(id);
    for (const entry of frame.changed) roster.set(entry.participant_id, entry);
    for (const entry of frame.joined) roster.set(entry.participant_id, entry);
  }
  rosterVersion = frame.version;
  showRoster([...roster.values()]);
}

function showRoster(entries) {
  const list = document.getElementById("roster");
  list.dataset.version = String(rosterVersion);
  list.replaceChildren();
  if (entries.length === 0) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "Nobody yet";
    list.append(empty);
  }
  for (const entry of entries) {
    const item = document.createElement("li");
    item.dataset.participant = entry.participant_id;
    item.dataset.tracks = entry.tracks.join(",");
    const kinds = entry.tracks.map((t) => KIND_NAMES[t] || "track").join(", ");
    item.textContent = entry.user_id + (entry.participant_id === participantId ? " (you)" : "");
    const detail = document.createElement("span");
    detail.className = "kinds";
    detail.textContent = kinds ? ` — ${kinds}` : "";
    item.append(detail);
    list.append(item);
  }
}

function iceGathered() {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", check);
  });
}

// Negotiations and sender changes run one at a time, in the order they were asked for.
function inTurn(step) {
  const done = negotiating.then(step);
  negotiating = done.catch(() => {});
  return done;
}

function publish(entries) {
  return inTurn(async () => {
    const added = entries.map((entry) => ({ sender: pc.addTrack(entry.track), type: entry.type }));
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered();
    const specs = added.map(({ sender, type }) => {
      const transceiver = pc.getTransceivers().find((t) => t.sender === sender);
      const trackId = `${participantId}:${++trackNumber}`;
      senders.set(trackId, sender);
      return { mid: transceiver.mid, track_id: trackId, track_type: type };
    });
    const answer = await request({ type: "Offer", sdp: pc.localDescription.sdp, publish: specs });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    return specs;
  });
}

// The edge asks to pause a track nobody reads, or to send it again (from a keyframe:
// a browser starts a resumed encoding with one).
function sendTrack(frame) {
  return inTurn(async () => {
    const sender = senders.get(frame.track_id);
    if (!sender) return;
    const parameters = sender.getParameters();
    for (const encoding of parameters.encodings || []) encoding.active = frame.send;
    await sender.setParameters(parameters);
    document.body.dataset.paused = [...senders]
      .filter(([, s]) => (s.getParameters().encodings || []).some((e) => !e.active))
      .map(([id]) => id)
      .join(",");
  }).catch((error) => showStatus(`Cannot pause or resume a track: ${error.message}`, true));
}

// The agent publishes tracks: offer receive-only transceivers, then play what arrives.
const agentStream = new MediaStream();
pc.addEventListener("track", (event) => {
  agentStream.addTrack(event.track);
  const agent = document.getElementById("agent");
  if (agent.srcObject !== agentStream) agent.srcObject = agentStream;
});
let negotiating = Promise.resolve();

function receive(tracks) {
  return inTurn(async () => {
    const added = tracks.map((t) => ({ transceiver: pc.addTransceiver(t.kind, { direction: "recvonly" }), track: t }));
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered();
    const specs = added.map(({ transceiver, track }) => ({ mid: transceiver.mid, track_id: track.track_id }));
    const answer = await request({ type: "Offer", sdp: pc.localDescription.sdp, publish: [], receive: specs });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }).catch((error) => showStatus(`Cannot receive the agent: ${error.message}`, true));
}

async function start() {
  if (!token) {
    showStatus("This page needs a join token in its address (?token=...).", true);
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(callId)}`);
  socket.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "Roster" || frame.type === "RosterDelta") return applyRoster(frame);
    if (frame.type === "Custom") return showCustom(frame.data);
    if (frame.type === "Renegotiate") return receive(frame.tracks);
    if (frame.type === "SendTrack") return sendTrack(frame);
    const reply = replies.get(frame.seq);
    if (!reply) {
      if (frame.type === "Error") showStatus(frame.reason, true);
      return;
    }
    replies.delete(frame.seq);
    if (frame.type === "Error") reply.reject(new Error(frame.reason));
    else reply.resolve(frame);
  };
  socket.onclose = () => {
    shareButton.disabled = leaveButton.disabled = true;
    if (!statusLine.classList.contains("error")) showStatus("Disconnected.");
  };
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("cannot reach the edge"));
  });
  const joined = await request({ type: "Join", token, version: SIGNALING_VERSION });
  if (joined.version !== SIGNALING_VERSION) {
    socket.close();
    throw new Error(
      `The edge speaks signaling version ${joined.version} and this page ${SIGNALING_VERSION}: reload the page.`,
    );
  }
  participantId = joined.participant_id;
  showStatus("Joined. Starting camera and microphone…");
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  document.getElementById("self").srcObject = media;
  const entries = [];
  for (const track of media.getAudioTracks()) entries.push({ track, type: TRACK.AUDIO });
  for (const track of media.getVideoTracks()) entries.push({ track, type: TRACK.VIDEO });
  localTracks.push(...entries.map((e) => e.track));
  await publish(entries);
  showStatus(`In the call as ${participantId}.`);
  shareButton.disabled = leaveButton.disabled = false;
}

shareButton.addEventListener("click", async () => {
  try {
    const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
    const entries = screen.getVideoTracks().map((track) => ({ track, type: TRACK.SCREEN_SHARE }));
    for (const track of screen.getAudioTracks()) entries.push({ track, type: TRACK.SCREEN_SHARE_AUDIO });
    localTracks.push(...screen.getTracks());
    const specs = await publish(entries);
    shareButton.disabled = true;
    screen.getVideoTracks()[0].addEventListener("ended", async () => {
      for (const spec of specs) await request({ type: "Unpublish", track_id: spec.track_id });
    });
  } catch (error) {
    showStatus(`Screen sharing failed: ${error.message}`, true);
  }
});

leaveButton.addEventListener("click", async () => {
  leaveButton.disabled = shareButton.disabled = true;
  try {
    await request({ type: "Leave" });
  } finally {
    for (const track of localTracks) track.stop();
    pc.close();
    socket.close();
    showStatus("You left the call.");
  }
});

start().catch((error) => showStatus(error.message, true));
