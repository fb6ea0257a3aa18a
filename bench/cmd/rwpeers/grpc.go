package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// The gRPC service is written by hand (no protoc): rwbench.Bench with a
// unary Echo and a client-streaming Sink, whose messages are raw bytes
// through rawCodec (content subtype "rwraw").

// rawCodec marshals *[]byte as its bytes.
type rawCodec struct{}

func (rawCodec) Name() string { return "rwraw" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *[]byte:
		return *m, nil
	case []byte:
		return m, nil
	}
	return nil, fmt.Errorf("rwraw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rwraw codec: cannot unmarshal into %T", v)
	}
	*p = append((*p)[:0], data...) // gRPC may reuse data
	return nil
}

func init() { encoding.RegisterCodec(rawCodec{}) }

// benchServer is the service's implementation: it counts what Sink gets.
type benchServer struct{ c *harness.Counter }

var benchDesc = grpc.ServiceDesc{
	ServiceName: "rwbench.Bench",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var b []byte
			if err := dec(&b); err != nil {
				return nil, err
			}
			return &b, nil
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Sink",
		ClientStreams: true,
		Handler: func(srv any, st grpc.ServerStream) error {
			c := srv.(*benchServer).c
			var b []byte
			for {
				if err := st.RecvMsg(&b); errors.Is(err, io.EOF) {
					return st.SendMsg(&[]byte{})
				} else if err != nil {
					return err
				}
				c.Add(len(b))
			}
		},
	}},
}

func grpcDial(port string) (*grpc.ClientConn, error) {
	return grpc.NewClient("127.0.0.1:"+port,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype("rwraw"), grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
}

// grpcThroughput streams postings to a server process (client streaming)
// for d.
func (p *peers) grpcThroughput(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := p.child(ctx, "grpc-server")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	conn, err := grpcDial(c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := conn.NewStream(sctx, &benchDesc.Streams[0], "/rwbench.Bench/Sink")
	if err != nil {
		return harness.Sample{}, err
	}
	body := make([]byte, size)
	// The stream stays open across the warm-up and the measurement: the
	// server's count, awaited by harness.Measure, says when all arrived.
	s, err := harness.MeasureReliable(ctx, []*harness.Child{c}, d, func(deadline time.Time) (int64, error) {
		return sendUntil(size, deadline, func() error { return st.SendMsg(&body) })
	})
	s.Settings = grpcSettings + "; client streaming"
	return s, err
}

// grpcSettings is what the gRPC rows print as their settings.
const grpcSettings = "insecure (no TLS), raw-bytes codec (no protobuf), default windows"

// grpcLatency measures unary Echo round trips to a server process.
func (p *peers) grpcLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := p.child(ctx, "grpc-server")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	conn, err := grpcDial(c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer conn.Close()
	body := make([]byte, size)
	var out []byte
	cpu0 := harness.CPUTime()
	lat, err := probe(ctx, d, func() error { return conn.Invoke(ctx, "/rwbench.Bench/Echo", &body, &out) })
	if err != nil {
		return harness.Sample{}, err
	}
	cpu := harness.CPUTime() - cpu0
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return harness.Sample{}, err
	}
	s, err := latencySample(cpu, lat, 0, size, d)
	s.Settings = grpcSettings + "; unary calls"
	return s, err
}

func childGRPC(stdin io.Reader, stdout io.Writer) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var c harness.Counter
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20))
	srv.RegisterService(&benchDesc, &benchServer{c: &c})
	go srv.Serve(l)
	defer srv.Stop()
	return harness.Serve(strconv.Itoa(l.Addr().(*net.TCPAddr).Port), &c, stdin, stdout)
}
