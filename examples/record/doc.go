// Command record records a lesson into a file:// channel and replays it,
// first as fast as it can, then paced as it was recorded.
//
//	go run ./examples/record            # records into a temporary file
//	go run ./examples/record -file lesson.rw
//
// A file:// channel is a channel like the others: Push appends to the
// recording (stream, media, headers, TTL, body and send time), and each
// subscription replays it from the start, then follows what is pushed
// later. From a terminal, rw record and rw replay do the same between a
// file and a network channel.
package main
