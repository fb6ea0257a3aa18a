package playout

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// avTraces returns a seed's audio (the yardstick) and video traces: video
// frames every 33 ms over the same path (the same jitter bursts, spike and
// sender clock), with jitter of their own, from t = 2 s (the camera comes
// on two seconds after the microphone).
func avTraces(seed uint64) (audio, video []tpkt) {
	audio = yardstick(seed)
	burst := rand.New(rand.NewPCG(seed, 0x20)).IntN(10) // the yardstick's
	video = genTrace(seed<<32|0x71de0, traceCfg{period: 33 * time.Millisecond, dur: 120 * time.Second, ppm: 100,
		base: 20 * time.Millisecond, extra: spike, burstSec: burst})
	for i := range video {
		if video[i].t < videoStart {
			video[i].lost = true // never sent
		}
	}
	return audio, video
}

// skews returns, for each video frame played, its capture (send) time
// since the start and the skew: how much earlier the sound of its capture
// instant plays than the frame (positive: sound early, as ITU-R BT.1359
// counts it). An audio packet plays its 20 ms contiguously from its
// playout instant, so the sound of capture instant c plays at P + (c − s)
// for the audio packet (s, P) that holds c; frames whose audio packet was
// lost or late are left out.
func skews(audio, video []tpkt, ao, vo []outcome) (at []time.Duration, sk []time.Duration) {
	period := audio[1].sent.Sub(audio[0].sent)
	for i, v := range video {
		if v.lost || vo[i].late || vo[i].at.IsZero() {
			continue
		}
		j, found := slices.BinarySearchFunc(audio, v.sent, func(a tpkt, s time.Time) int { return a.sent.Compare(s) })
		if !found {
			j--
		}
		if j < 0 || audio[j].lost || ao[j].late || ao[j].at.IsZero() || v.sent.Sub(audio[j].sent) >= period {
			continue
		}
		pa := ao[j].at.Add(v.sent.Sub(audio[j].sent))
		at = append(at, v.t)
		sk = append(sk, vo[i].at.Sub(pa))
	}
	return at, sk
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// syncFigures are one seed's sync figures.
type syncFigures struct {
	p1, p99        time.Duration // of the skew after 5 s
	out            float64       // share of frames after 5 s out of bounds
	converged      time.Duration // the first capture time starting a second with every skew in bounds
	first          time.Duration // the first skew
	aLate, vLate   float64       // late ratios after 5 s
	aDelay, vDelay time.Duration // mean playout delays after 5 s
}

const (
	skewLo, skewHi = -125 * time.Millisecond, 45 * time.Millisecond // ITU-R BT.1359 detectability
	videoStart     = 2 * time.Second
	videoBehind    = 300 * time.Millisecond // the video's initial delay over the audio's
)

func syncRun(seed uint64, grouped bool) syncFigures {
	audio, video := avTraces(seed)
	var a, v *Buffer
	if grouped {
		g := NewGroup(Config{})
		a = g.Stream(Config{})
		v = g.Stream(Config{InitialDelay: 100*time.Millisecond + videoBehind})
	} else {
		a, v = New(Config{}), New(Config{InitialDelay: 100*time.Millisecond + videoBehind})
	}
	out := simulate([]*Buffer{a, v}, [][]tpkt{audio, video})
	at, sk := skews(audio, video, out[0], out[1])
	var f syncFigures
	f.first = sk[0]
	f.aDelay, f.vDelay = meanDelayAfter(audio, out[0]), meanDelayAfter(video, out[1])
	var after []time.Duration
	var nout int
	f.converged = -1
	start := 0 // the first frame of the current run in bounds
	for i, s := range sk {
		if s < skewLo || s > skewHi {
			start = i + 1
			if at[i] >= 5*time.Second {
				nout++
			}
		} else if f.converged < 0 && start < len(at) && at[i]-at[start] >= time.Second {
			f.converged = at[start]
		}
		if at[i] >= 5*time.Second {
			after = append(after, s)
		}
	}
	f.out = float64(nout) / float64(len(after))
	slices.Sort(after)
	f.p1, f.p99 = after[len(after)/100], after[len(after)-1-len(after)/100]
	f.aLate, f.vLate = lateAfter(audio, out[0]), lateAfter(video, out[1])
	return f
}

func meanDelayAfter(ps []tpkt, out []outcome) time.Duration {
	var n int
	var sum time.Duration
	for i, p := range ps {
		if p.lost || out[i].late || out[i].at.IsZero() || p.arr.Sub(recvEpoch) < 5*time.Second {
			continue
		}
		n++
		sum += out[i].at.Sub(recvEpoch) - p.t
	}
	return sum / time.Duration(n)
}

func lateAfter(ps []tpkt, out []outcome) float64 {
	var n, late int
	for i, p := range ps {
		if p.lost || p.arr.Sub(recvEpoch) < 5*time.Second {
			continue
		}
		n++
		if out[i].late {
			late++
		}
	}
	return float64(late) / float64(n)
}

// TestSync: audio and video of one source, the video starting 2 s later
// and 300 ms behind, played in one group: the skew's 1st and 99th
// percentiles after 5 s lie within −125…+45 ms, it is within bounds from
// the first video frame or at the latest 5 s after (for a whole second),
// and neither stream is hurried: each one's late ratio after 5 s is at
// most 1 %. Played apart (no group), the same streams start 300 ms apart
// and stay out of sync: logged for comparison.
func TestSync(t *testing.T) {
	seeds := yardstickSeeds()
	for _, seed := range seeds {
		f := syncRun(seed, true)
		u := syncRun(seed, false)
		t.Logf("seed %2d grouped: first frame %+4.0f ms, p1 %+4.0f p99 %+4.0f ms, %.2f%% out of bounds, in sync from %v; late audio %.2f%% video %.2f%%; mean delay audio %5.1f video %5.1f ms",
			seed, ms(f.first), ms(f.p1), ms(f.p99), 100*f.out, f.converged.Round(time.Millisecond), 100*f.aLate, 100*f.vLate, ms(f.aDelay), ms(f.vDelay))
		t.Logf("seed %2d apart:   first frame %+4.0f ms, p1 %+4.0f p99 %+4.0f ms, %.2f%% out of bounds, in sync from %v; late audio %.2f%% video %.2f%%; mean delay audio %5.1f video %5.1f ms",
			seed, ms(u.first), ms(u.p1), ms(u.p99), 100*u.out, u.converged.Round(time.Millisecond), 100*u.aLate, 100*u.vLate, ms(u.aDelay), ms(u.vDelay))
		if f.p1 < skewLo || f.p99 > skewHi {
			t.Errorf("seed %d: skew p1 %v p99 %v, outside %v…%v", seed, f.p1, f.p99, skewLo, skewHi)
		}
		if f.converged < 0 || f.converged > videoStart+5*time.Second {
			t.Errorf("seed %d: in sync only from %v (video from %v)", seed, f.converged, videoStart)
		}
		if f.aLate > 0.01 || f.vLate > 0.01 {
			t.Errorf("seed %d: late audio %.2f%% video %.2f%%", seed, 100*f.aLate, 100*f.vLate)
		}
	}
}
