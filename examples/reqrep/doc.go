// Command reqrep shows request/reply: Pull and Serve, named services,
// a queue group that shares requests round robin, asking one member,
// errors and deadlines.
//
//	go run ./examples/reqrep
//
// It runs a client and two servers on an in-process hub (mem://) and
// exits; on a network, put them in processes of their own on a multicast
// group or a unicast port (rw serve and rw req do the same from a
// terminal).
package main
