// Package gwire is the format of gateway control datagrams: what a
// gateway (package gateway) and its unicast clients (package channel) say
// to each other outside the channel's own datagrams.
//
// A gateway relays channel datagrams unchanged, and holds no key, so it
// cannot speak inside a keyed channel's datagrams. Its few words to a
// client travel in datagrams of their own, told apart from channel
// datagrams (magic 0x52) by their first byte:
//
//	byte 0      magic 0x47 ('G')
//	byte 1      version<<4 | type (version 1; types below)
//	bytes 2-9   cookie (CHALLENGE, ECHO) or member (THINNED), big-endian,
//	            never 0
//	bytes 10-13 stream, big-endian, never 0 (THINNED only)
//
//	type 1 CHALLENGE  from the gateway: prove that you receive at the
//	                  address this came to, by sending the cookie back
//	type 2 ECHO       from a client: the cookie of a CHALLENGE
//	type 3 THINNED    from the gateway: it dropped droppable data of the
//	                  member's stream for this client; the next datagram
//	                  of that stream it forwards follows this one, and what
//	                  the client lacks of the stream below that datagram
//	                  will not come
//
// Issue 25 adds gateway selection, liveness and the directory:
//
//	type 4 PROBE      from a client: bytes 2-9 a nonce (never 0), byte 10
//	                  flags (bit 0: run the capability test), then zeros
//	                  to [ProbeLen] bytes, so that the answer is no larger
//	                  than the question
//	type 5 PROBED     from the gateway, the answer to a PROBE: bytes 2-9
//	                  the nonce, bytes 10-25 the group it relays (IPv6 or
//	                  IPv4-mapped), bytes 26-27 its port ([ProbedLen]); the
//	                  client's round-trip time to the gateway is the time
//	                  from its PROBE to this
//	type 6 CAPTEST    from the gateway, sent to the group when a PROBE asks
//	                  for the capability test: bytes 2-9 the probe's nonce
//	                  ([Len]); a client that hears it on the group can
//	                  receive the group and joins it directly
//	type 7 HEARTBEAT  from the gateway to each validated client, every
//	                  heartbeat interval: bytes 2-9 a sequence number
//	                  (never 0; [Len]); a client that hears nothing from
//	                  its gateway for its timeout moves to a standby
//	type 8 DIRQUERY   from anyone: bytes 2-3 the first entry wanted, then
//	                  zeros to [DirQueryLen] bytes
//	type 9 DIRECTORY  from the gateway, the answer to a DIRQUERY: bytes 2-3
//	                  the entries in all, bytes 4-5 the index of the first
//	                  here, then entries (each a 2-byte length and the
//	                  channel URL, a 2-byte length and the address clients
//	                  send to), at most [DirQueryLen] bytes in all; a
//	                  client pages on with the next index
//	type 10 RECEIPT   from a client to its gateway, every [ReceiptEvery]
//	                  while it is the client's way in: bytes 2-9 the
//	                  bytes it has received (every datagram's UDP
//	                  payload, from its first), bytes 10-13 the datagrams,
//	                  bytes 14-17 its clock when it counted them
//	                  (microseconds, any origin), all big-endian and
//	                  modulo 2⁶⁴ and 2³²; the gateway learns from two of
//	                  them what the client's path delivered in between,
//	                  whatever streams it was of and whether the client
//	                  has heard of them yet ([ReceiptLen])
//
// CHALLENGE, ECHO, CAPTEST and HEARTBEAT are [Len] bytes, THINNED
// [ThinnedLen], PROBE [ProbeLen], PROBED [ProbedLen], RECEIPT
// [ReceiptLen], DIRQUERY [DirQueryLen], DIRECTORY at most that; anything
// else starting with the
// magic is malformed (padding that is not zeros included). An echo or an
// answer is no larger than what it answers, a client answers only the
// gateway its URL names, and a gateway sends one CAPTEST per PROBE within
// a rate limit, so neither side can be made a reflector or amplifier.
// Nothing here is authenticated (the gateway holds no key): whoever can
// send from the gateway's address can make its clients give up gaps of
// semi-reliable streams early, or keep them on a gateway that is gone
// (heartbeats), and whoever can send to the group can make a client
// believe it receives the group (CAPTEST).
package gwire
