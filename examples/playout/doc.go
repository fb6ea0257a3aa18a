// Command playout plays a source's audio and video in sync through
// package playout: a sender pushes an audio posting every 20 ms and a
// video frame every 33 ms, through a stack that delays them by 30 ms ± 25
// ms and loses 2 % (the impair layer), and a receiver plays both streams
// against one virtual observer's clock, printing each second the delay it
// settled on, the late postings and the audio–video skew.
//
//	go run ./examples/playout -demo           # sender and receiver in one process, 8 s
//	go run ./examples/playout -play           # a receiver; in another terminal:
//	go run ./examples/playout -send
package main
