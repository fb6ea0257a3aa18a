// Package encrypt is the confidentiality and integrity layer: every packet
// that passes down is sealed with an AEAD under a key that is never used by
// any other stack, and every packet that passes up is opened, checked
// against a replay window, and dropped (and counted) unless it is authentic
// and new.
//
// Importing the package registers the layer as "encrypt":
//
//	encrypt(suite=aes128-gcm, replay=1024, peers=256)
//
// The layer needs the channel's key ring ([registry.Env.Keys], set by
// channel.WithKey or channel.WithKeyRing); building it on an unkeyed channel
// is an error. It usually sits at the wire side of a stack
// ("reliable/encrypt"), so that acknowledgements and NAKs are protected as
// well as data; it works anywhere.
//
// # Suites
//
//	aes128-gcm          AES-128-GCM (crypto/aes; fastest where the CPU has AES instructions)
//	aes256-gcm          AES-256-GCM
//	chacha20-poly1305   ChaCha20-Poly1305 (golang.org/x/crypto; for CPUs without AES instructions)
//	xchacha20-poly1305  XChaCha20-Poly1305
//
// # Keys and nonces
//
// Each stack picks a random 64-bit instance number when it is bound. The key
// a stack seals with is derived with HKDF-SHA256 from the ring's current
// channel key, salted with the channel's identity (the same on every
// member), with info naming the suite, the direction (data from the flow's
// sender, or feedback from one of its receivers), the flow's sender and
// stream id, the member that seals (the originator) and its instance. The
// nonce is a counter from 1 that the stack increments for every packet.
// A (key, nonce) pair therefore never repeats: not within a stack (the
// counter), not across the stacks of one member or of a restarted member
// (a fresh random instance each time, and fresh random member ids on
// channels), not across members (the originator). Receivers derive the same
// key from the header the first time they see an originator's instance and
// keep it (at most peers of them per stack, least recently used evicted).
// The key also changes with the counter's key phase (see Key update).
//
// # Key update
//
// RFC 9001 §6.6 sets usage limits on the AEADs: AES-128-GCM and
// AES-256-GCM may seal at most 2^23 packets under one key (the
// confidentiality limit) and may see at most 2^52 packets fail
// authentication under one key (the integrity limit); ChaCha20-Poly1305's
// confidentiality limit is above the number of packets a counter can
// number (it is disregarded) and its integrity limit is 2^36, which
// XChaCha20-Poly1305 shares. The layer keeps them with key phases, driven
// by the sender alone and with nothing on the wire: the key phase of a
// packet is its counter divided by the suite's confidentiality limit, so a
// stack moves to its next key every 2^23 packets (AES-GCM; ChaCha20 never
// does), before its key has sealed more. Phase 0's key is the one
// described above; phase n's is derived from the same ring key with info
// "rwanda/encrypt-ku/v1/" and the same fields, then n, so a receiver
// derives the key of any phase in one step: one that joins late, or lost
// many packets, needs no chain of updates. Unlike QUIC's, the phase needs
// no header bit, since the header carries the whole counter (which the
// AEAD authenticates).
//
// A receiver keeps, per originator's instance, the keys of two phases (the
// current one, and the previous one for packets reordered across an
// update, or the next), and counts the packets that fail authentication
// under each. Past the integrity limit, a key's packets are dropped
// unopened as "key-exhausted" until the sender's next phase. The count is
// kept with the key: a ring change (which derives the key again) keeps
// it, an eviction forgets it.
//
// Ring rotation ([keys.Ring.Use]) and key phases are independent: a key
// switched to starts at the phase its counter is in, and every key id's
// phase n is a key of its own. Key updates are counted in the stack's
// statistics: "key-updates-sent" (this stack's key moved on to its next
// phase) and "key-updates-received" (an originator's packets authenticated
// in a later phase than before).
//
// # Replay
//
// A receiver keeps, per originator and instance, a sliding window of replay
// bits: a counter seen before, or more than replay below the highest
// authentic counter seen, is dropped as "replayed" before any decryption;
// a counter is marked seen only once its packet has been authenticated, so
// forgeries cannot move the window. Packets reordered within the window are
// accepted.
//
// # Rotation
//
// The header names the key id; receivers accept any key in the ring, so a
// ring can be rotated while postings flow (add the new key on every member,
// switch senders to it with [keys.Ring.Use], remove the old one later) and
// nothing is lost. A packet under a key no longer in the ring is dropped as
// "unknown-key".
//
// # Wire format
//
//	byte 0      0x10 | direction (high nibble: version 1; bit 0: 0 data
//	            from the flow's sender, 1 feedback from a receiver)
//	byte 1      key id in the ring
//	8 bytes     originator member id, feedback packets only
//	8 bytes     the originator stack's instance, big-endian
//	uvarint     the counter (the nonce), at least 1; it names the key
//	            phase too (see Key update)
//	rest        the AEAD ciphertext, then its 16-byte tag
//
// The header bytes are the AEAD's associated data; the nonce is the counter
// big-endian in the nonce's last 8 bytes, zeros before. Bits 1-3 of byte 0
// are zero; a packet with one set is malformed.
//
// Drops are counted by reason in the stack's statistics: "malformed",
// "unknown-key", "replayed", "forged" (authentication failed),
// "key-exhausted" (a key past its integrity limit), "direction"
// (a packet the flow cannot carry, such as data sent at a sender),
// "spoofed" (a feedback packet whose originator is not the member it came
// from). Keys never appear in errors, logs or events.
package encrypt
