package natsx

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded servers: one per port in a process (port 0: in-process only, no
// listener), started by the first channel that names it and shut down
// when the last one closes.
var embedded = struct {
	sync.Mutex
	m map[int]*embeddedServer
}{m: make(map[int]*embeddedServer)}

type embeddedServer struct {
	port int
	srv  *server.Server
	refs int
}

// embedReady bounds how long an embedded server may take to start.
const embedReady = 10 * time.Second

// acquireEmbedded returns the embedded server of port, starting it if no
// channel of this process uses it yet.
func acquireEmbedded(port int) (*embeddedServer, error) {
	embedded.Lock()
	defer embedded.Unlock()
	if s := embedded.m[port]; s != nil {
		s.refs++
		return s, nil
	}
	opts := &server.Options{
		ServerName: fmt.Sprintf("rwanda-embedded-%d", port),
		NoLog:      true,
		NoSigs:     true,
		// The default max payload (1 MiB); a channel cuts datagrams to
		// 64 KiB at most anyway.
	}
	if port == 0 {
		opts.DontListen = true // reached in-process only
	} else {
		opts.Port = port // every interface, as a UDP listening side
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsx: embedded nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(embedReady) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if port != 0 {
			return nil, fmt.Errorf("natsx: embedded nats-server on port %d not ready within %v (is the port in use? name the server in the URL to use one that runs)", port, embedReady)
		}
		return nil, fmt.Errorf("natsx: embedded nats-server not ready within %v", embedReady)
	}
	s := &embeddedServer{port: port, srv: srv, refs: 1}
	embedded.m[port] = s
	return s, nil
}

// release drops a reference; the last one shuts the server down and waits
// until it has.
func (s *embeddedServer) release() {
	embedded.Lock()
	defer embedded.Unlock() // a channel opening meanwhile starts a new one once the port is free
	if s.refs--; s.refs > 0 {
		return
	}
	delete(embedded.m, s.port)
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
