package routing

// Class is a number classification, the key of call_restriction.
type Class uint8

// Kazoo's default classifiers, in the order they are tried.
const (
	ClassTollfreeUS Class = iota
	ClassTollUS
	ClassEmergency
	ClassCaribbean
	ClassDIDUS
	ClassInternational
	ClassUnknown
	numClasses
)

var classNames = [numClasses]string{
	"tollfree_us", "toll_us", "emergency", "caribbean", "did_us", "international", "unknown",
}

// String returns the classifier name as call_restriction spells it.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

// ParseClass returns the class named s.
func ParseClass(s string) (Class, bool) {
	for i, n := range classNames {
		if n == s {
			return Class(i), true
		}
	}
	return ClassUnknown, false
}

// caribbeanNPA are the NANP area codes of Kazoo's caribbean classifier:
// ^\+?1((?:684|264|268|242|246|441|284|345|767|809|829|849|473|671|876|664|670|787|939|869|758|784|721|868|649|340)\d{7})$
var caribbeanNPA = [...]string{
	"684", "264", "268", "242", "246", "441", "284", "345", "767", "809", "829", "849", "473",
	"671", "876", "664", "670", "787", "939", "869", "758", "784", "721", "868", "649", "340",
}

// Classify classifies an already normalised (e164) number with Kazoo's
// default classifiers; the first that matches wins:
//
//	tollfree_us    ^\+1((?:800|88\d|877|866|855|844|833|822)\d{7})$
//	toll_us        ^\+1(900\d{7})$
//	emergency      ^(911|922|933|833|811|711|999)$
//	caribbean      ^\+?1(<caribbean NPAs>)\d{7}$
//	did_us         ^(\+?1)?([2-9][0-9]{2}[2-9][0-9]{6})$
//	international  ^\+([2-9]\d{7,})$
//	unknown        anything else (extensions too)
//
// Use ClassifyDialed for a number as dialled.
func Classify(n string) Class {
	if len(n) == 12 && n[0] == '+' && n[1] == '1' && allDigits(n[2:]) {
		switch npa := n[2:5]; {
		case npa == "800" || npa[:2] == "88" || npa == "877" || npa == "866" ||
			npa == "855" || npa == "844" || npa == "833" || npa == "822":
			return ClassTollfreeUS
		case npa == "900":
			return ClassTollUS
		}
	}
	switch n {
	case "911", "922", "933", "833", "811", "711", "999":
		return ClassEmergency
	}
	if isCaribbean(n) {
		return ClassCaribbean
	}
	if _, ok := nanp(n); ok {
		return ClassDIDUS
	}
	if len(n) >= 9 && n[0] == '+' && n[1] >= '2' && n[1] <= '9' && allDigits(n[1:]) {
		return ClassInternational
	}
	return ClassUnknown
}

func isCaribbean(n string) bool {
	switch {
	case len(n) == 12 && n[0] == '+' && n[1] == '1':
		n = n[2:]
	case len(n) == 11 && n[0] == '1':
		n = n[1:]
	default:
		return false
	}
	if !allDigits(n) {
		return false
	}
	for _, npa := range caribbeanNPA {
		if n[:3] == npa {
			return true
		}
	}
	return false
}

// ClassifyDialed classifies a dialled number the way Kazoo's restriction
// check does: Normalize with the plans (device, then account), then Classify.
func ClassifyDialed(n string, plans ...*DialPlan) Class {
	var buf [64]byte
	for _, p := range plans {
		n = p.applyFirst(n)
	}
	return Classify(string(AppendE164(buf[:0], n)))
}
