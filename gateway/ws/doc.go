// Package ws serves a channel to WebSocket clients: browsers, which run no
// protocol stack, receive and send postings through it.
//
// A [Handler] is a member of the channel (it is given an open
// *channel.Channel) and an http.Handler. Each WebSocket client gets the
// channel's postings that match the filters in its URL's query, one JSON
// text message per posting, and may push postings back, which the handler
// pushes on the channel as its own. Because it decodes postings, on a keyed
// channel the handler must hold the key: it is a trusted member (the
// relay rules, DECISIONS §2). UDP clients of a gateway keep end-to-end
// protection; WebSocket clients trust the handler.
//
// # Filters
//
// The upgrade request's query selects what a client gets, as the channel's
// subscription options do: stream=NAME (repeatable), media=audio|video|...
// (repeatable), sender=HEX (repeatable). An unknown media class or a
// malformed sender is refused with HTTP 400 before the upgrade.
//
// # Messages to the client
//
//	{"sender":"3f2a…","seq":7,"stream":"chat","media":"text","kind":"message",
//	 "sent":1733363725123.456,"ttl":1500,"key":"cursor","frame":"12","frameEnd":true,
//	 "headers":[{"name":"traceparent","value":"00-…"}],
//	 "text":"hello"}
//
// sender and frame are hexadecimal and decimal strings (they do not fit a
// JavaScript number); sent is Unix milliseconds; ttl milliseconds. The body
// is one of: "text" (a string body), "base64" ([]byte), or "value" with
// "type" (a typed body, as JSON: a registered Go type marshalled with
// encoding/json, or an unregistered one decoded from its msgpack form); a
// nil body has none of them. Empty fields are left out. Replies to the
// client's own messages are {"ack":REF} or {"error":"…","ref":REF}.
//
// # Messages from the client
//
//	{"ref":1,"stream":"chat","media":"text","text":"hi","ttl":0,"key":"","frame":"0","frameEnd":false,"headers":[]}
//
// with "text" or "base64" as the body. ref, when given, is echoed in the
// ack or error. A message that is not valid JSON of this shape, or whose
// posting is invalid (posting.Validate), is answered with an error and
// counted ("rejected"); it does not close the connection. Messages larger
// than the read limit (WithReadLimit, 64 KiB by default) close it.
//
// # Slow clients
//
// Each client has a bounded queue (WithQueue, 256 postings by default).
// A posting superseded by a newer one with the same latest-wins key
// (sender, stream, key) is dropped from it at once ("superseded"); when
// it is full, expired postings (past Sent+TTL) go first ("expired"), then
// the oldest posting with a TTL, which its sender marked droppable
// ("dropped"). A full queue of postings without a TTL is never thinned: the
// client is disconnected with status 1013 (try again later) and counted
// ("slow"), so nothing it was owed is lost without it knowing.
//
// # JavaScript
//
// [Script] is a small ES module (served by [Handler.ScriptHandler]) that
// the collaboration app reuses:
//
//	import { Channel } from "/rwanda.js";
//	const ch = await Channel.open("ws://host:8080/ws?stream=chat");
//	ch.onposting = (p) => console.log(p.sender, p.text);
//	await ch.push({ stream: "chat", media: "text", text: "hi" });
//
// Channel.open(url, { reconnect: true }) connects again by itself after the
// gateway closes or loses the connection (a restart): after 250 ms, then
// delays doubling to 8 s, with jitter, until close(); onclose and
// onreconnect tell the page. What was sent meanwhile is not delivered
// later, and pushes made or in flight meanwhile reject.
package ws
