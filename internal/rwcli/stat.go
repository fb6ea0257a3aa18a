package rwcli

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/metrics"
	"github.com/rwanda-go/rwanda/stack"
)

var statCmd = &command{
	name: "stat", args: "URL",
	summary: `Join the channel and show, refreshed every second, what this member sees:
the members heard from, the flows arriving from them with their stacks
(QoS), postings, loss, jitter and RTT (from monitor layers: add one with
--qos frag/monitor on the senders), this member's streams, drops by reason
and the latest events. --once prints one snapshot after --wait and exits.`,
	setup: func(fs *flag.FlagSet) runner {
		var cf chanFlags
		cf.declare(fs)
		once := fs.Bool("once", false, "print one snapshot and exit")
		wait := fs.Duration("wait", 2*time.Second, "with --once: listen this long before the snapshot")
		every := fs.Duration("every", time.Second, "refresh period")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one URL, got %d arguments", len(args))
			}
			if *every <= 0 {
				return usagef("--every must be positive")
			}
			ev := &eventLog{}
			ch, err := e.open(args[0], &cf, channel.WithEvents(ev.add))
			if err != nil {
				return err
			}
			defer ch.Close()
			v := &statView{url: args[0], events: ev}
			if *once {
				select {
				case <-time.After(*wait):
				case <-e.ctx.Done():
				}
				v.render(e.stdout, ch.Stats(), time.Now())
				return nil
			}
			live := isTerminal(e.stdout)
			t := time.NewTicker(*every)
			defer t.Stop()
			for {
				var b strings.Builder
				if live {
					b.WriteString("\x1b[H\x1b[2J") // home, clear
				}
				v.render(&b, ch.Stats(), time.Now())
				if !live {
					b.WriteString("\n")
				}
				io.WriteString(e.stdout, b.String())
				select {
				case <-e.ctx.Done():
					return nil
				case <-t.C:
				}
			}
		}
	},
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// eventLog keeps the channel's latest events.
type eventLog struct {
	mu   sync.Mutex
	last []channel.Event
}

const keepEvents = 8

func (l *eventLog) add(ev channel.Event) {
	if ev.Kind == "monitor-report" {
		return // every second per flow: counted in Stats, shown in the flows' figures
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == keepEvents {
		l.last = slices.Delete(l.last, 0, 1)
	}
	l.last = append(l.last, ev)
}

func (l *eventLog) list() []channel.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.last)
}

// statView renders snapshots; it remembers the previous one for rates.
type statView struct {
	url    string
	events *eventLog
	prev   *channel.Stats
	prevAt time.Time
}

func (v *statView) render(w io.Writer, st channel.Stats, now time.Time) {
	fmt.Fprintf(w, "rw stat %s  member %016x  %s\n\n", v.url, st.Member, now.Format("15:04:05"))
	rate := ""
	if v.prev != nil {
		if dt := now.Sub(v.prevAt).Seconds(); dt > 0 {
			rate = fmt.Sprintf("  (now %.0f postings/s in, %.0f out)",
				float64(st.Received.Postings-v.prev.Received.Postings)/dt, float64(st.Sent.Postings-v.prev.Sent.Postings)/dt)
		}
	}
	fmt.Fprintf(w, "traffic   in: %d postings, %d datagrams, %s   out: %d postings, %d datagrams, %s%s\n",
		st.Received.Postings, st.Received.Datagrams, size(int64(st.Received.Bytes)),
		st.Sent.Postings, st.Sent.Datagrams, size(int64(st.Sent.Bytes)), rate)
	fmt.Fprintf(w, "memory    %s of %s   subscriptions %d\n", size(st.Memory), size(st.MemLimit), st.Subs)

	mon := map[string]metrics.Monitor{} // by role, stream, member
	mkey := func(r metrics.Role, stream string, member uint64) string {
		return fmt.Sprintf("%s/%s/%x", r, stream, member)
	}
	for _, m := range metrics.Monitors(st) {
		mon[mkey(m.Role, m.Stream, m.Member)] = m
	}
	figures := func(m metrics.Monitor, ok bool) (loss, jitter, rtt string) {
		if !ok {
			return "-", "-", "-"
		}
		loss, jitter, rtt = fmt.Sprintf("%.2f%%", 100*m.Loss), m.Jitter.String(), "-"
		if m.RTT > 0 {
			rtt = m.RTT.String()
		}
		return
	}

	fmt.Fprintf(w, "\nmembers (%d)\n", len(st.Peers))
	if len(st.Peers) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  MEMBER\tADDRESS\tSERVES\tLAST HEARD")
		peers := slices.Clone(st.Peers)
		slices.SortFunc(peers, func(a, b channel.PeerInfo) int { return cmp.Compare(a.ID, b.ID) })
		for _, p := range peers {
			serves := "no"
			if p.Serves {
				serves = "yes"
			}
			fmt.Fprintf(tw, "  %016x\t%v\t%s\t%v ago\n", p.ID, p.Addr, serves, now.Sub(p.LastSeen).Round(time.Millisecond))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nincoming flows (%d)\n", len(st.Flows))
	if len(st.Flows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  FROM\tSTREAM\tSTACK\tPOSTINGS\tBYTES\tLOSS\tJITTER\tDROPS")
		flows := slices.Clone(st.Flows)
		slices.SortFunc(flows, func(a, b channel.FlowStats) int {
			if c := cmp.Compare(a.Sender, b.Sender); c != 0 {
				return c
			}
			return strings.Compare(a.Stream, b.Stream)
		})
		for _, f := range flows {
			m, ok := mon[mkey(metrics.Receiver, f.Stream, f.Sender)]
			loss, jitter, _ := figures(m, ok)
			fmt.Fprintf(tw, "  %016x\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", f.Sender, quoteStream(f.Stream), f.QoS, f.Postings, size(int64(f.Bytes)), loss, jitter, layerDrops(f.Stack.Layers))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\noutgoing streams (%d)\n", len(st.Streams))
	if len(st.Streams) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  STREAM\tTO\tMEDIA\tSTACK\tPOSTINGS\tBYTES\tLOSS\tJITTER\tRTT\tDROPS")
		for _, s := range st.Streams {
			to := "everyone"
			if s.Target != 0 {
				to = fmt.Sprintf("%016x", s.Target)
			}
			m, ok := mon[mkey(metrics.Sender, s.Name, s.Target)]
			loss, jitter, rtt := figures(m, ok)
			fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", quoteStream(s.Name), to, s.Media, s.QoS, s.Postings, size(int64(s.Bytes)), loss, jitter, rtt, layerDrops(s.Stack.Layers))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\ndrops     %s\n", counts(st.Drops))
	fmt.Fprintf(w, "events    %s\n", counts(st.Events))
	if evs := v.events.list(); len(evs) > 0 {
		fmt.Fprintln(w, "latest events")
		for _, ev := range evs {
			who := ""
			if ev.Member != 0 {
				who = fmt.Sprintf(" member %016x", ev.Member)
			}
			fmt.Fprintf(w, "  %s %s stream %s%s %s: %s\n", ev.At.Format("15:04:05.000"), ev.Kind, quoteStream(ev.Stream), who, ev.Layer, ev.Detail)
		}
	}
	v.prev, v.prevAt = &st, now
}

func quoteStream(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// counts prints a map of counters, largest first.
func counts(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// layerDrops sums a stack's drops by reason.
func layerDrops(ls []stack.LayerStats) string {
	m := map[string]uint64{}
	for _, l := range ls {
		for k, n := range l.Drops {
			m[l.Name+":"+k] += n
		}
	}
	if len(m) == 0 {
		return "-"
	}
	return counts(m)
}
