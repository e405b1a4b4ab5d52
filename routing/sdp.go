package routing

import (
	"bytes"
	"strconv"
	"strings"
)

// FilterSDP restricts the audio of an SDP offer to the codecs of a device's
// media.audio.codecs (Kazoo names: "PCMU", "G722", "OPUS", "speex@16000h",
// "G7221@32000h", "CELT_48", …; the part before "@" or "_" is the encoding
// name, matched case-insensitively, and "@<rate>h" also pins the clock
// rate). telephone-event (DTMF) is always kept. A payload type is dropped
// from the m=audio line together with its a=rtpmap, a=fmtp and a=rtcp-fb
// lines. An audio section that would be left with no codec, or that cannot
// be parsed, is left as it was: offering too much beats failing the call.
// With no codecs the offer is returned unchanged. Other media are not
// touched. The result is a new slice; sdp is not modified.
func FilterSDP(sdp []byte, codecs []string) []byte {
	if len(codecs) == 0 || len(sdp) == 0 {
		return sdp
	}
	var out bytes.Buffer
	out.Grow(len(sdp))
	lines := splitLines(sdp)
	for i := 0; i < len(lines); {
		// a section (the session part, or one medium) runs to the next m=
		j := i + 1
		for j < len(lines) && !bytes.HasPrefix(lines[j], []byte("m=")) {
			j++
		}
		section := lines[i:j]
		if bytes.HasPrefix(section[0], []byte("m=audio ")) {
			if filtered, ok := filterAudio(section, codecs); ok {
				section = filtered
			}
		}
		for _, l := range section {
			out.Write(l)
		}
		i = j
	}
	return out.Bytes()
}

// splitLines splits after each "\n", keeping the line ends as they were.
func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, b)
			break
		}
		lines = append(lines, b[:i+1])
		b = b[i+1:]
	}
	return lines
}

func trimEOL(l []byte) []byte { return bytes.TrimRight(l, "\r\n") }

// staticPT are the RFC 3551 static audio payload types a device may offer
// without an a=rtpmap.
var staticPT = map[string]string{
	"0": "PCMU/8000", "3": "GSM/8000", "4": "G723/8000", "8": "PCMA/8000",
	"9": "G722/8000", "15": "G728/8000", "18": "G729/8000",
}

func filterAudio(section [][]byte, codecs []string) ([][]byte, bool) {
	m := strings.Fields(string(trimEOL(section[0])))
	if len(m) < 4 {
		return nil, false
	}
	rtpmap := map[string]string{} // payload type → encoding/rate
	for _, l := range section[1:] {
		if pt, rest, ok := attr(l, "a=rtpmap:"); ok {
			rtpmap[pt] = rest
		}
	}
	keep := map[string]bool{}
	kept := m[:3:3]
	audio := 0
	for _, pt := range m[3:] {
		enc, ok := rtpmap[pt]
		if !ok {
			enc = staticPT[pt]
		}
		name, _, _ := strings.Cut(enc, "/")
		switch {
		case strings.EqualFold(name, "telephone-event"):
		case codecAllowed(enc, codecs):
			audio++
		default:
			continue
		}
		keep[pt] = true
		kept = append(kept, pt)
	}
	if audio == 0 {
		return nil, false
	}
	eol := section[0][len(trimEOL(section[0])):]
	out := make([][]byte, 0, len(section))
	out = append(out, append([]byte(strings.Join(kept, " ")), eol...))
	for _, l := range section[1:] {
		dropped := false
		for _, prefix := range []string{"a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"} {
			if pt, _, ok := attr(l, prefix); ok && pt != "*" && !keep[pt] {
				dropped = true
			}
		}
		if !dropped {
			out = append(out, l)
		}
	}
	return out, true
}

// attr parses "a=<kind>:<pt> <rest>".
func attr(l []byte, prefix string) (pt, rest string, ok bool) {
	s := string(trimEOL(l))
	if !strings.HasPrefix(s, prefix) {
		return "", "", false
	}
	pt, rest, _ = strings.Cut(s[len(prefix):], " ")
	return pt, strings.TrimSpace(rest), pt != ""
}

// codecAllowed matches an rtpmap encoding ("opus/48000/2") against Kazoo
// codec names.
func codecAllowed(enc string, codecs []string) bool {
	parts := strings.Split(enc, "/")
	if parts[0] == "" {
		return false
	}
	for _, c := range codecs {
		name, rate, hasRate := strings.Cut(c, "@")
		if !hasRate {
			name, _, _ = strings.Cut(name, "_")
		}
		if !strings.EqualFold(name, parts[0]) {
			continue
		}
		if hasRate {
			want, err := strconv.Atoi(strings.TrimSuffix(rate, "h"))
			if err != nil || len(parts) < 2 || parts[1] != strconv.Itoa(want) {
				continue
			}
		}
		return true
	}
	return false
}
