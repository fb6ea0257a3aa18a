// Package sched orders what a channel sends when its link is the
// bottleneck: a [Queue] of packets from many streams and pushers, served
// at a link rate by a policy, and the scheduling experiment of the RWANDA
// paper ([Experiment]) that compares the policies.
//
// Policies:
//
//	None      no scheduler: streams take turns packet by packet, as
//	          independent senders sharing a link do (processor sharing)
//	FIFO      first come, first served, whole postings in arrival order
//	Priority  by media class (control, audio, video, text, image, data),
//	          first come first served within a class
//	EDF       earliest deadline first; packets that can no longer arrive
//	          by their deadline are dropped before they reach the wire
//
// A Queue holds items of several policies at once (each stream chooses
// its own with the fifo, priority or edf layer): the classes are served
// in the order EDF, Priority, FIFO, None.
//
// Everything takes time as an argument: the queue never reads a clock, so
// experiments run in scaled, simulated time and repeat exactly.
package sched
