// Command floor is floor control over multicast: who may speak, one member
// at a time, with a coordinator that survives crashes.
//
//	go run ./examples/floor -name ana
//	go run ./examples/floor -name ben
//	go run ./examples/floor -name cy
//
// Type "request" (or "request 5", a priority), "release", "state" or
// "quit"; every member prints the floor's holder and queue as they change.
// The voters (-voters, default ana,ben,cy) elect the coordinator: the floor
// stays available while a majority of them is up. With -demo it plays a
// session of three members in one process over the same multicast group,
// including the crash of the member that coordinates, and exits.
package main
