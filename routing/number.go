package routing

// Kazoo's default e164 converters (knm_converter_regex), hand-compiled so
// that the hot path needs neither regexp nor allocations:
//
//  1. ^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$ → "+1" + the ten digits
//  2. ^011(\d{5,})$|^00(\d{5,})$          → "+" + the digits after the prefix
//  3. ^[2-9]\d{7,}$                        → "+" + the number
//
// A number that already starts with "+" is left alone, as is one that
// matches no rule (extensions, 911).

// nanp returns the ten NPA-NXX-XXXX digits of n when n matches converter 1.
func nanp(n string) (string, bool) {
	switch {
	case len(n) == 12 && n[0] == '+' && n[1] == '1':
		n = n[2:]
	case len(n) == 11 && n[0] == '1':
		n = n[1:]
	case len(n) == 10:
	default:
		return "", false
	}
	if n[0] < '2' || n[0] > '9' || n[3] < '2' || n[3] > '9' || !allDigits(n) {
		return "", false
	}
	return n, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// AppendE164 appends the e164 form of n to dst (see ToE164).
func AppendE164(dst []byte, n string) []byte {
	if len(n) > 0 && n[0] == '+' {
		return append(dst, n...)
	}
	if ten, ok := nanp(n); ok {
		dst = append(dst, "+1"...)
		return append(dst, ten...)
	}
	if len(n) >= 3+5 && n[:3] == "011" && allDigits(n[3:]) {
		dst = append(dst, '+')
		return append(dst, n[3:]...)
	}
	if len(n) >= 2+5 && n[:2] == "00" && allDigits(n[2:]) {
		dst = append(dst, '+')
		return append(dst, n[2:]...)
	}
	if len(n) >= 8 && n[0] >= '2' && n[0] <= '9' && allDigits(n) {
		dst = append(dst, '+')
		return append(dst, n...)
	}
	return append(dst, n...)
}

// ToE164 converts n with Kazoo's default e164 converters: "4158867900",
// "14158867900" and "+14158867900" give "+14158867900"; "011442071838750"
// gives "+442071838750"; any 8+ digit number starting 2–9 gets a "+"
// ("23456789" → "+23456789", Kazoo's quirk); anything else is unchanged.
func ToE164(n string) string {
	if len(n) > 0 && n[0] == '+' {
		return n
	}
	var buf [64]byte
	out := AppendE164(buf[:0], n)
	if string(out) == n {
		return n
	}
	return string(out)
}

// ToNPAN returns the ten-digit NPA-NXX-XXXX form of a NANP number
// ("+14158867900" → "4158867900"); any other number is returned unchanged.
func ToNPAN(n string) string {
	if ten, ok := nanp(n); ok {
		return ten
	}
	return n
}

// To1NPAN returns "1" + NPA-NXX-XXXX for a NANP number
// ("+14158867900" → "14158867900"); any other number is returned unchanged.
func To1NPAN(n string) string {
	if ten, ok := nanp(n); ok {
		if len(n) == 11 {
			return n // already 1NPAN
		}
		return "1" + ten
	}
	return n
}

// StripPlus is Kazoo 5's strip_plus: the e164 form without its leading "+"
// ("011442071838750" → "442071838750", "1001" → "1001").
func StripPlus(n string) string {
	e := ToE164(n)
	if len(e) > 0 && e[0] == '+' {
		return e[1:]
	}
	return e
}

// Normalize is the number Kazoo classifies and matches: the first matching
// rule of each dial plan, in the order given (device, then account), then
// ToE164. Nil plans are skipped.
func Normalize(n string, plans ...*DialPlan) string {
	for _, p := range plans {
		n = p.applyFirst(n)
	}
	return ToE164(n)
}

// appendFormat appends n converted for a number invite format.
func appendFormat(dst []byte, f InviteFormat, n string) []byte {
	switch f {
	case FormatE164:
		return AppendE164(dst, n)
	case FormatNPAN:
		if ten, ok := nanp(n); ok {
			return append(dst, ten...)
		}
	case Format1NPAN:
		if ten, ok := nanp(n); ok {
			dst = append(dst, '1')
			return append(dst, ten...)
		}
	case FormatStripPlus:
		start := len(dst)
		dst = AppendE164(dst, n)
		if len(dst) > start && dst[start] == '+' {
			copy(dst[start:], dst[start+1:])
			dst = dst[:len(dst)-1]
		}
		return dst
	}
	return append(dst, n...)
}

// Convert converts n for invite format f: e164, npan, 1npan and strip_plus
// convert; the other formats return n unchanged.
func Convert(f InviteFormat, n string) string {
	switch f {
	case FormatE164:
		return ToE164(n)
	case FormatNPAN:
		return ToNPAN(n)
	case Format1NPAN:
		return To1NPAN(n)
	case FormatStripPlus:
		return StripPlus(n)
	}
	return n
}
