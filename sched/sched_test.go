package sched

import (
	"testing"
	"time"
)

func TestPolicies(t *testing.T) {
	base := time.Unix(0, 0)
	q := NewQueue(0)
	q.Push(Item{Policy: None, Flow: 1, Value: "n1a"})
	q.Push(Item{Policy: None, Flow: 1, Value: "n1b"})
	q.Push(Item{Policy: None, Flow: 2, Value: "n2a"})
	q.Push(Item{Policy: FIFO, Value: "f1"})
	q.Push(Item{Policy: FIFO, Value: "f2"})
	q.Push(Item{Policy: Priority, Priority: 5, Value: "p5"})
	q.Push(Item{Policy: Priority, Priority: 1, Value: "p1"})
	q.Push(Item{Policy: EDF, Deadline: base.Add(3 * time.Second), Value: "e3"})
	q.Push(Item{Policy: EDF, Value: "e-none"})
	q.Push(Item{Policy: EDF, Deadline: base.Add(2 * time.Second), Value: "e2"})
	q.Push(Item{Policy: EDF, Deadline: base, Value: "e-expired"})
	var got []string
	for {
		it, ok, _ := q.Pop(base.Add(time.Millisecond), nil)
		if !ok {
			break
		}
		got = append(got, it.Value.(string))
	}
	want := []string{"e2", "e3", "e-none", "p1", "p5", "f1", "f2", "n1a", "n2a", "n1b"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if q.Dropped != 1 || q.Len() != 0 || q.Bytes() != 0 {
		t.Fatalf("dropped %d, left %d", q.Dropped, q.Len())
	}
}

// TestRate: items leave no faster than the link rate.
func TestRate(t *testing.T) {
	q := NewQueue(1000) // 1000 B/s
	now := time.Unix(0, 0)
	for range 10 {
		q.Push(Item{Policy: FIFO, Size: 100})
	}
	sent := 0
	for q.Len() > 0 {
		_, ok, retry := q.Pop(now, nil)
		if ok {
			sent++
			continue
		}
		now = retry
	}
	// 10 items of 100 B at 1000 B/s: the last starts at 0.9 s.
	if sent != 10 || !now.Equal(time.Unix(0, 0).Add(900*time.Millisecond)) || !q.Free().Equal(time.Unix(1, 0)) {
		t.Fatalf("sent %d, last at %v, free at %v", sent, now, q.Free())
	}
}

// TestSchedulingExperiment reproduces the RWANDA paper's experiment in
// scaled time (a unit of work is 10 ms of link time) and checks what
// scheduling buys: nobody misses at low utilisation, and under overload
// EDF, which drops what can no longer arrive in time, misses fewer
// deadlines than no scheduler and than FIFO.
func TestSchedulingExperiment(t *testing.T) {
	results := map[Policy]map[float64]Result{}
	for _, p := range []Policy{None, FIFO, Priority, EDF} {
		results[p] = map[float64]Result{}
		for _, u := range []float64{0.5, 0.8, 0.95, 1.1, 1.3, 1.6} {
			r := PaperExperiment(p, u, 10*time.Millisecond).Run()
			results[p][u] = r
			t.Log(r)
		}
	}
	for _, p := range []Policy{None, FIFO, Priority, EDF} {
		if r := results[p][0.5]; r.Missed != 0 {
			t.Errorf("%v misses at U=0.5: %v", p, r)
		}
	}
	for _, u := range []float64{1.1, 1.3, 1.6} {
		e, n, f := results[EDF][u], results[None][u], results[FIFO][u]
		if e.MissRatio >= n.MissRatio || e.MissRatio >= f.MissRatio {
			t.Errorf("U=%.1f: EDF %.3f, none %.3f, fifo %.3f: EDF should miss least", u, e.MissRatio, n.MissRatio, f.MissRatio)
		}
	}
}

// TestEDFDropsWholeParcels: once a parcel cannot make its deadline, none of
// its packets is sent, and packets of parcels that can still make it go.
func TestEDFDropsWholeParcels(t *testing.T) {
	base := time.Unix(0, 0)
	q := NewQueue(1000) // 1 B/ms
	// Parcel 1: 3 packets of 100 B, due in 250 ms: cannot make it (300 ms).
	for k := range 3 {
		q.Push(Item{Policy: EDF, Deadline: base.Add(250 * time.Millisecond), Size: 100, Parcel: 1, Rest: 300 - 100*k, Value: 1})
	}
	// Parcel 2: 2 packets of 100 B, due in 400 ms: makes it.
	for k := range 2 {
		q.Push(Item{Policy: EDF, Deadline: base.Add(400 * time.Millisecond), Size: 100, Parcel: 2, Rest: 200 - 100*k, Value: 2})
	}
	now := base
	var sent []int
	for q.Len() > 0 {
		it, ok, retry := q.Pop(now, nil)
		if ok {
			sent = append(sent, it.Value.(int))
			continue
		}
		if retry.IsZero() {
			break
		}
		now = retry
	}
	if len(sent) != 2 || sent[0] != 2 || sent[1] != 2 || q.Dropped != 3 {
		t.Fatalf("sent %v, dropped %d", sent, q.Dropped)
	}
}
