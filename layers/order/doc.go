// Package order is the ordering layer: it delivers each flow (one sender's
// stream) in sequence order, using the numbers a sequencing layer below it
// (window) puts in Meta.Seq; assembly fails without one.
//
// Importing the package registers the layer as "order":
//
//	frag/order/window                          reliable and ordered
//	frag/order/window(mode=besteffort)         ordered, late packets dropped
//
// Over a reliable layer (one that declares stack.CapReliable) it waits for
// gaps: out-of-order packets are held, up to Config.Buffer sequence numbers
// ahead of the next one to deliver, until the missing ones arrive or a skip
// marker (stack.FlagSkip) says they never will — a parcel abandoned at its
// time to obsolescence, or loss the sender could no longer repair — and
// then what waits behind is released. When a packet would lie beyond the
// buffer, the oldest gaps are given up, counted as "overflow", so what is
// held stays within the buffer however far ahead a packet claims to be.
//
// Over an unreliable layer it never waits: a packet older than the last one
// delivered is late and is dropped (counted as "late"); gaps are counted.
//
// The layer consumes skip markers; they never reach the layers above.
//
// # Memory and time
//
// Config.Buffer bounds how far ahead packets are held, not what is
// allocated: building a stack allocates nothing for it, and the layer's
// state grows with the packets actually held, in pages of 64 sequence
// numbers made when a packet is held in them (or a skip marker lands ahead
// of a gap) and dropped when they empty. Each held packet's buffer and each
// page (64 bytes, and 512 more once it holds a packet) is reserved from the
// channel's memory budget (stack.Binding.Memory) while held. When the budget
// refuses, the layer does not hold the packet: it counts the refusal
// ("no-memory"), gives up the gaps in front of it ("gave-up-for-memory",
// per sequence number) and delivers it: memory pressure costs the packets
// still missing, never a stall. Giving up gaps, whether for the buffer, for
// memory or for a deadline ("gave-up-for-time"), steps over empty pages and
// jumps past the last one, so its work is a step per sequence number in the
// pages there are and per page of the buffer between them, whatever the
// distance a sequence number jumps.
package order
