package routing

import (
	"bytes"
	"strings"
	"testing"
)

const offer = "v=0\r\n" +
	"o=- 1 1 IN IP4 192.0.2.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 192.0.2.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 8 9 111 101\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtcp-fb:111 transport-cc\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n" +
	"a=sendrecv\r\n" +
	"m=video 4002 RTP/AVP 96\r\n" +
	"a=rtpmap:96 H264/90000\r\n"

func TestFilterSDP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		codecs  []string
		m       string   // the m=audio line after filtering
		gone    []string // lines that must be gone
		present []string // lines that must stay
	}{
		{"pcmu only", []string{"PCMU"}, "m=audio 4000 RTP/AVP 0 101",
			[]string{"a=rtpmap:8 ", "a=rtpmap:111", "a=fmtp:111", "a=rtcp-fb:111"},
			[]string{"a=rtpmap:0 PCMU/8000", "a=fmtp:101 0-16", "a=sendrecv", "m=video 4002 RTP/AVP 96", "a=rtpmap:96 H264/90000"}},
		{"opus case-insensitive, static G722", []string{"OPUS", "G722"}, "m=audio 4000 RTP/AVP 9 111 101",
			[]string{"a=rtpmap:0 ", "a=rtpmap:8 "}, []string{"a=fmtp:111 minptime=10;useinbandfec=1"}},
		{"rate must match", []string{"opus@16000h", "PCMA"}, "m=audio 4000 RTP/AVP 8 101",
			[]string{"a=rtpmap:111"}, nil},
		{"rate matches", []string{"OPUS@48000h"}, "m=audio 4000 RTP/AVP 111 101", nil, nil},
		{"suffix form", []string{"G722_16"}, "m=audio 4000 RTP/AVP 9 101", nil, nil},
		{"nothing in common keeps the offer", []string{"G729"}, "m=audio 4000 RTP/AVP 0 8 9 111 101", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := string(FilterSDP([]byte(offer), tc.codecs))
			if !strings.Contains(out, tc.m+"\r\n") {
				t.Errorf("no %q in\n%s", tc.m, out)
			}
			for _, g := range tc.gone {
				if strings.Contains(out, g) {
					t.Errorf("%q still in\n%s", g, out)
				}
			}
			for _, p := range tc.present {
				if !strings.Contains(out, p+"\r\n") {
					t.Errorf("%q missing from\n%s", p, out)
				}
			}
		})
	}
	if got := FilterSDP([]byte(offer), nil); !bytes.Equal(got, []byte(offer)) {
		t.Error("no codecs must leave the offer alone")
	}
	lf := strings.ReplaceAll(offer, "\r\n", "\n")
	if got := string(FilterSDP([]byte(lf), []string{"PCMU"})); !strings.Contains(got, "m=audio 4000 RTP/AVP 0 101\n") || strings.Contains(got, "\r") {
		t.Errorf("LF line ends not kept:\n%s", got)
	}
}

func FuzzFilterSDP(f *testing.F) {
	f.Add([]byte(offer), "PCMU,opus@48000h")
	f.Add([]byte("m=audio 1 RTP/AVP\r\na=rtpmap:x\r\n"), "x")
	f.Add([]byte("m=audio 1 RTP/AVP 0\n"), "PCMU")
	f.Fuzz(func(t *testing.T, sdp []byte, codecs string) {
		in := bytes.Clone(sdp)
		out := FilterSDP(sdp, strings.Split(codecs, ","))
		if !bytes.Equal(in, sdp) {
			t.Fatal("FilterSDP modified its input")
		}
		if len(out) > len(sdp) {
			t.Fatalf("filtering grew the SDP: %d > %d", len(out), len(sdp))
		}
		if bytes.Count(out, []byte("\n")) > bytes.Count(sdp, []byte("\n")) {
			t.Fatal("filtering added lines")
		}
	})
}
