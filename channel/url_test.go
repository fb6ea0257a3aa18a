package channel

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/transport"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in    string
		check func(*Address) bool
	}{
		{"classroom://239.7.7.7:7400", func(a *Address) bool {
			return a.Form == Multicast && a.Group == netip.MustParseAddrPort("239.7.7.7:7400") && a.TTL == 1 && a.Loop && a.MTU == DefaultMTU4 && a.Scheme == "classroom"
		}},
		{"App://239.7.7.7:7400?iface=lo&ttl=4&loop=false&mtu=9000&qos=frag(mtu=1200)", func(a *Address) bool {
			return a.Scheme == "app" && a.Iface == "lo" && a.TTL == 4 && !a.Loop && a.MTU == 9000 && a.QoS == "frag(mtu=1200)"
		}},
		{"video://[ff15::7]:7400", func(a *Address) bool {
			return a.Form == Multicast && a.Group.Addr().Is6() && a.MTU == DefaultMTU6
		}},
		{"app://10.0.0.5:7400", func(a *Address) bool {
			return a.Form == Unicast && a.Host == "10.0.0.5" && a.Port == 7400 && !a.Listen.IsValid()
		}},
		{"app://localhost:7400?listen=:7401", func(a *Address) bool {
			return a.Host == "localhost" && a.Listen == netip.MustParseAddrPort("0.0.0.0:7401")
		}},
		{"app://:7400", func(a *Address) bool {
			return a.Form == Unicast && a.Host == "" && a.Listen.Port() == 7400
		}},
		{"app://0.0.0.0:7400", func(a *Address) bool { return a.Form == Unicast && a.Listen.Port() == 7400 }},
		{"app://127.0.0.1:9?listen=127.0.0.1:0", func(a *Address) bool {
			return a.Listen == netip.MustParseAddrPort("127.0.0.1:0")
		}},
		{"mem://hub-1", func(a *Address) bool { return a.Form == Mem && a.Name == "hub-1" && a.MTU == DefaultMTUMem }},
		{"file:///tmp/rec.rw?replay=realtime", func(a *Address) bool {
			return a.Form == File && a.Path == "/tmp/rec.rw" && a.Replay == ReplayRealtime
		}},
		{"classroom://239.7.7.7:7400?channel=lesson", func(a *Address) bool {
			return a.Channel == "lesson" && a.Identity() == "classroom?channel=lesson"
		}},
		{"classroom://10.0.0.5:7400?channel=room/7:a-b_c.~", func(a *Address) bool {
			return a.Channel == "room/7:a-b_c.~" && a.Identity() == "classroom?channel=room/7:a-b_c.~"
		}},
		{"classroom://239.7.7.7:7400", func(a *Address) bool { return a.Identity() == "classroom://239.7.7.7:7400" }},
		{"classroom://10.0.0.5:7400", func(a *Address) bool { return a.Identity() == "classroom://" }},
		{"tv://232.1.2.3:5000?source=10.0.0.9", func(a *Address) bool { return a.Source == netip.MustParseAddr("10.0.0.9") }},
		{"tv://[ff3e::1234]:5000?source=2001:db8::9", func(a *Address) bool { return a.Source == netip.MustParseAddr("2001:db8::9") }},
	} {
		a, err := ParseURL(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !c.check(a) {
			t.Errorf("%s: parsed as %+v", c.in, a)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, c := range []struct{ in, param, reason string }{
		{"239.7.7.7:7400", "", "want scheme://host:port"},
		{"app:239.7.7.7", "", "want scheme://host:port"},
		{"app://239.7.7.7", "", "a multicast group needs a port"},
		{"app://239.7.7.7:0", "", "port \"0\" must be 1..65535"},
		{"app://239.7.7.7:99999", "", "port \"99999\""},
		{"app://239.7.7.7:7400/path", "", "a path is not allowed"},
		{"app://239.7.7.7:7400?channel=", "channel", "want 1 to 128"},
		{"app://10.0.0.1:7400?source=10.0.0.9", "source", "only for multicast"},
		{"app://232.1.2.3:7400?source=nope", "source", "want an IP address"},
		{"app://232.1.2.3:7400?source=2001:db8::9", "source", "of the group's IP family"},
		{"app://232.1.2.3:7400?source=239.1.1.1", "source", "of the group's IP family"},
		{"app://239.7.7.7:7400?channel=a%20b", "channel", "want 1 to 128"},
		{"app://239.7.7.7:7400?channel=" + strings.Repeat("x", 129), "channel", "want 1 to 128"},
		{"app://u:p@239.7.7.7:7400", "", "user information"},
		{"app://239.7.7.7:7400#x", "", "fragment"},
		{"app://239.7.7.7:7400?colour=red", "colour", "unknown parameter"},
		{"app://239.7.7.7:7400?ttl=300", "ttl", "want 0..255"},
		{"app://239.7.7.7:7400?ttl=1&ttl=2", "ttl", "given 2 times"},
		{"app://239.7.7.7:7400?loop=maybe", "loop", "want true or false"},
		{"app://239.7.7.7:7400?mtu=100", "mtu", "want 256..65507"},
		{"app://239.7.7.7:7400?qos=frag(", "qos", "offset 5"},
		{"app://239.7.7.7:7400?listen=:1", "listen", "only for unicast"},
		{"app://239.7.7.7:7400?replay=fast", "replay", "only for file://"},
		{"app://10.0.0.1:7400?iface=lo", "iface", "only for multicast"},
		{"app://10.0.0.1:7400?listen=nope", "listen", "want [address]:port"},
		{"app://10.0.0.1", "", "a unicast peer needs a port"},
		{"app://bad_host!:1", "", "neither an IP address nor a host name"},
		{"app://no_underscores:1", "", "neither an IP address nor a host name"},
		{"app://[fe80::1%25eth0]:1", "", "zones are not allowed"},
		{"app://:0", "", "port \"0\""},
		{"mem://", "", "want mem://name"},
		{"mem://a:1", "", "want mem://name"},
		{"mem://a/b", "", "want mem://name"},
		{"file://host/x", "", "no host"},
		{"file:///tmp/dir/", "", "absolute/path to a file"},
		{"file:///x?replay=slow", "replay", "want fast or realtime"},
		{"1app://239.7.7.7:1", "", "invalid scheme"},
	} {
		_, err := ParseURL(c.in)
		var ue *URLError
		if !errors.As(err, &ue) || !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: got %v, want a URLError", c.in, err)
			continue
		}
		if ue.Param != c.param || !strings.Contains(err.Error(), c.reason) || ue.URL != c.in {
			t.Errorf("%s: got %q (param %q), want param %q and %q", c.in, err, ue.Param, c.param, c.reason)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"app://239.7.7.7:7400?iface=lo&ttl=4", "app://[ff15::1]:9", "app://:7400", "mem://x",
		"file:///a/b?replay=realtime", "app://h:1?listen=[::]:5", "app://1.2.3.4:5?qos=frag(mtu=1200)/x",
		"app+nats://hub:4222/lesson?channel=x", "app+udp://1.2.3.4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseURL(s)
		if err != nil {
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a *URLError", err)
			}
			return
		}
		if a.Form < Multicast || a.Form > Other || a.MTU < minMTU || a.MTU > maxMTU {
			t.Fatalf("accepted %q as %+v", s, a)
		}
		if (a.Form == File) != (a.Transport == "") || (a.Transport != "" && !transport.ValidName(a.Transport)) {
			t.Fatalf("accepted %q with transport %q (form %v)", s, a.Transport, a.Form)
		}
		if a.Form == Multicast && !a.Group.Addr().IsMulticast() {
			t.Fatalf("multicast without a group: %+v", a)
		}
	})
}
