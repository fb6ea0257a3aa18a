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
// gaps: out-of-order packets are held, up to Config.Buffer of them, until
// the missing ones arrive or a skip marker (stack.FlagSkip) says they never
// will — a parcel abandoned at its time to obsolescence, or loss the sender
// could no longer repair — and then what waits behind is released. When a
// packet would lie beyond the buffer, the oldest gap is given up, counted as
// "overflow", so memory stays bounded.
//
// Over an unreliable layer it never waits: a packet older than the last one
// delivered is late and is dropped (counted as "late"); gaps are counted.
//
// The layer consumes skip markers; they never reach the layers above.
package order
