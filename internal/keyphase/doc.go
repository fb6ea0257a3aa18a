// Package keyphase keeps AEAD keys within the usage limits of RFC 9001
// §6.6 by key phases: a sender's key changes every PhaseLen counters, and
// a receiver keeps the keys of two phases per sender. The keyed channel's
// datagram tags (package channel) and the encrypt layer both use it; each
// says how its keys are derived and what a Slot's Version means to it.
package keyphase
