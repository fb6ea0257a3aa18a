// Command reconfigure changes a stream's protocol stack while postings
// flow: the old stack drains, the receiver follows the announcement of
// the new one, and nothing is lost, duplicated or reordered.
//
//	go run ./examples/reconfigure
//
// It runs a sender and a receiver on an in-process hub (mem://) and exits.
// channel.WithAdapter does the same by itself from what a monitor layer
// measures (LossAdapter: a lossy best-effort stream moves to a repairing
// stack, and back when the loss is gone).
package main
