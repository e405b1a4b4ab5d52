package routing_test

import (
	"fmt"
	"net/netip"

	"github.com/sipedge/sipedge/devices"
	"github.com/sipedge/sipedge/location"
	"github.com/sipedge/sipedge/routing"
)

// A gateway call to a DID reaches the device that owns it, with the number
// in the device's invite format and the external ringtone.
func ExampleDecideInto() {
	dev, _ := devices.FromDocument("acct1", "acme.sip.example.com", map[string]any{
		"id":        "dev1",
		"sip":       map[string]any{"username": "user_abc", "number": "+14158867900", "invite_format": "npan"},
		"ringtones": map[string]any{"external": "<http://ring.example/dr2>;info=Bellcore-dr2"},
	})
	callee, _ := routing.Compile(dev) // once per document change
	index := routing.NewNumberIndex(callee)

	found, how := routing.Resolve("", "14158867900", index) // from a gateway: any realm
	var plan routing.Plan                                   // reuse per worker: no allocations
	routing.DecideInto(&plan, &routing.Input{
		Callee:     found,
		DialedUser: "14158867900",
		FromUser:   "+12125550000",
		Bindings: []location.Binding{{
			OriginalContact: "<sip:user_abc@192.168.1.20:5062;transport=udp>",
			Source:          netip.MustParseAddrPort("203.0.113.7:40112"),
		}},
	})
	b := plan.Branches[0]
	fmt.Println(how, b.Kind, b.RequestURI, b.Binding.Source)
	fmt.Println(b.To, b.From)
	fmt.Println(b.Headers)
	// Output:
	// number device sip:4158867900@acme.sip.example.com 203.0.113.7:40112
	// { 4158867900 acme.sip.example.com} { +12125550000 acme.sip.example.com}
	// [{Alert-Info <http://ring.example/dr2>;info=Bellcore-dr2}]
}
