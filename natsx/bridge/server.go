package bridge

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the nats-server a bridge can start for its site
// when none is given (the embedded default of cmd/rwbridge).
type ServerConfig struct {
	// Listen is the client address ("127.0.0.1:4222"; port 0: any free
	// port on that address; "": 127.0.0.1, any free port).
	Listen string
	// LeafListen, if set, accepts leaf node connections from other sites
	// ("0.0.0.0:7422").
	LeafListen string
	// LeafRemotes are the servers of other sites this one connects to as
	// a leaf node (nats-leaf://host:7422).
	LeafRemotes []string
	// LeafReconnect is the wait between attempts to reconnect a leaf node
	// link (nats-server's default, 1 s, when 0).
	LeafReconnect time.Duration
}

// Server is an embedded nats-server.
type Server struct {
	srv *server.Server
}

// serverReady bounds how long an embedded server may take to start.
const serverReady = 10 * time.Second

// StartServer starts an embedded nats-server.
func StartServer(cfg ServerConfig) (*Server, error) {
	opts := &server.Options{ServerName: "rwbridge", NoLog: true, NoSigs: true, Host: "127.0.0.1", Port: server.RANDOM_PORT}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bridge: listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
		if port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	if cfg.LeafListen != "" {
		host, port, err := splitHostPort(cfg.LeafListen)
		if err != nil {
			return nil, fmt.Errorf("bridge: leaf listen %q: %w", cfg.LeafListen, err)
		}
		if port == 0 {
			return nil, fmt.Errorf("bridge: leaf listen %q: name the port the other sites connect to", cfg.LeafListen)
		}
		opts.LeafNode.Host, opts.LeafNode.Port = host, port
	}
	opts.LeafNode.ReconnectInterval = cfg.LeafReconnect
	for _, r := range cfg.LeafRemotes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("bridge: leaf remote %q: want nats-leaf://host:port", r)
		}
		opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, &server.RemoteLeafOpts{URLs: []*url.URL{u}})
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bridge: embedded nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(serverReady) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("bridge: embedded nats-server not ready within %v", serverReady)
	}
	return &Server{srv: srv}, nil
}

func splitHostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, err
	}
	return host, int(port), nil
}

// ClientURL is where clients connect: nats://host:port.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Leafs is the number of leaf node connections up.
func (s *Server) Leafs() int { return s.srv.NumLeafNodes() }

// HasInterest reports whether any client or leaf node of this server's
// account subscribes to subject.
func (s *Server) HasInterest(subject string) bool {
	return s.srv.GlobalAccount().SubscriptionInterest(subject)
}

// Close shuts the server down and waits until it has.
func (s *Server) Close() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
