// Command chat is a multicast chat: run it in two terminals and type.
//
//	go run ./examples/chat -name ana
//	go run ./examples/chat -name ben
//
// Every line you type is pushed to the channel; every member prints it.
// /who lists the members heard from, /stats prints the channel's counters,
// /quit leaves. With -demo it plays a short conversation between two
// members in one process, over the same multicast group, and exits.
package main
