package posting_test

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/posting"
)

// spaced formats b as the package docs do: "02 00 00 00".
func spaced(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(hex.EncodeToString([]byte{c}))
	}
	return sb.String()
}

// docText returns the package documentation in doc.go as one line of
// words.
func docText(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//"); ok {
			words = append(words, strings.Fields(rest)...)
		}
	}
	return strings.Join(words, " ")
}

// TestDocExamples checks the encodings quoted in the package docs.
func TestDocExamples(t *testing.T) {
	doc := docText(t)
	tests := []struct {
		p    posting.Posting
		want string
	}{
		{posting.Posting{}, "02 00 00 00"},
		{posting.Posting{Stream: "s", Seq: 1, Body: []byte("hi")}, "02 21 00 01 01 01 73 68 69"},
	}
	for _, tt := range tests {
		b, err := tt.p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if got := spaced(b); got != tt.want {
			t.Errorf("%v encodes as %s, want %s", &tt.p, got, tt.want)
		}
		if !strings.Contains(doc, "is "+tt.want) && !strings.Contains(doc, "bytes "+tt.want) {
			t.Errorf("doc.go does not quote %s", tt.want)
		}
	}
	// The version 1 example.
	if !strings.Contains(doc, "01 21 01 01 01 73 68 69") {
		t.Error("doc.go does not quote the version 1 example")
	}
}

// TestDecodeVersion1 decodes hand-written version 1 encodings, as found in
// old recordings, and checks that they re-encode as version 2.
func TestDecodeVersion1(t *testing.T) {
	tests := []struct {
		name     string
		v1       string
		want     posting.Posting
		v1Header int
		v2       string
	}{
		{"doc example", "0121010101736869", posting.Posting{Stream: "s", Seq: 1, Body: []byte("hi")}, 6, "022100010101736869"},
		{"minimal", "010000", posting.Posting{}, 3, "02000000"},
		{"string reply", "01003a6f6b", posting.Posting{Media: posting.Text, Kind: posting.Reply, Body: "ok"}, 3, "020032026f6b"},
		{"fault", "01045e016f6b", posting.Posting{Media: posting.Control, Kind: posting.Fault, Correlation: 1, Body: "ok"}, 4, "020453" + "02" + "016f6b"},
		{"msgpack int", "01000303696e7405", posting.Posting{Body: 5}, 7, "0200000303696e7405"},
		{"msgpack struct", "010007" + "09746573742e63686174" + "83a446726f6da3616e6ea454657874a26869a14e07",
			posting.Posting{Media: posting.Data, Kind: posting.Request, Body: chat{From: "ann", Text: "hi", N: 7}}, 13,
			"020001" + "03" + "09746573742e63686174" + "83a446726f6da3616e6ea454657874a26869a14e07"},
		{"msgpack pointer", "01800304626f6f6cc3", posting.Posting{Body: ptr(true)}, 8, "0280000304626f6f6cc3"},
		{"msgpack nil pointer", "01800309746573742e63686174c0", posting.Posting{Body: (*chat)(nil)}, 13, "0280000309746573742e63686174c0"},
		{"all fields", "01" + "7f" + "14" + "ac02" + "0807060504030201" + "1817161514131211" + "01" + "02" + "ff00000000000000" + "026162",
			posting.Posting{
				Stream: "ab", Media: posting.Audio, Kind: posting.Request,
				Seq: 300, Sender: 0x0102030405060708, Sent: time.Unix(0, 0x1112131415161718),
				TTL: 1, Correlation: 2, ReplyTo: 0xff,
			}, 34,
			"02" + "7f" + "11" + "00" + "ac02" + "0807060504030201" + "1817161514131211" + "01" + "02" + "ff00000000000000" + "026162"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := hex.DecodeString(tt.v1)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := posting.HeaderLen(in); err != nil || n != tt.v1Header {
				t.Errorf("HeaderLen = %d, %v; want %d", n, err, tt.v1Header)
			}
			for _, decode := range []func([]byte) (*posting.Posting, error){posting.Decode, posting.DecodeShared} {
				got, err := decode(append([]byte(nil), in...))
				if err != nil {
					t.Fatalf("decoding %s: %v", tt.v1, err)
				}
				if diff := cmp.Diff(&tt.want, got, cmpOpts); diff != "" {
					t.Fatalf("decoded posting differs (-want +got):\n%s", diff)
				}
				out, err := got.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if h := hex.EncodeToString(out); h != tt.v2 {
					t.Errorf("re-encodes as %s, want %s", h, tt.v2)
				}
			}
		})
	}
}
