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
//	uvarint     the counter (the nonce), at least 1
//	rest        the AEAD ciphertext, then its 16-byte tag
//
// The header bytes are the AEAD's associated data; the nonce is the counter
// big-endian in the nonce's last 8 bytes, zeros before.
//
// Drops are counted by reason in the stack's statistics: "malformed",
// "unknown-key", "replayed", "forged" (authentication failed), "direction"
// (a packet the flow cannot carry, such as data sent at a sender),
// "spoofed" (a feedback packet whose originator is not the member it came
// from). Keys never appear in errors, logs or events.
package encrypt
