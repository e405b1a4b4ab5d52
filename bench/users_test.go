package bench

import (
	"strings"
	"testing"
)

func TestReadUsers(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []User
		wantErr bool
	}{
		{name: "plain", in: "alice;secret\nbob;p;w\n", want: []User{{"alice", "secret"}, {"bob", "p;w"}}},
		{name: "sipp header, comments, blanks", in: "SEQUENTIAL\n# x\n\n alice;s \n", want: []User{{"alice", "s"}}},
		{name: "no separator", in: "alice\n", wantErr: true},
		{name: "quote in user", in: "al\"ice;s\n", wantErr: true},
		{name: "empty", in: "# nobody\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadUsers(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestUserRange(t *testing.T) {
	u, err := UserRange("user%06d", "secret%06d", 1, 3)
	if err != nil || len(u) != 3 || u[0] != (User{"user000001", "secret000001"}) || u[2].Name != "user000003" {
		t.Fatalf("%v %v", u, err)
	}
	for _, bad := range [][2]string{{"user", "p%d"}, {"u%d", "p"}, {"u@%d", "p%d"}} {
		if _, err := UserRange(bad[0], bad[1], 1, 2); err == nil {
			t.Errorf("%q/%q accepted", bad[0], bad[1])
		}
	}
	if _, err := UserRange("u%d", "p%d", 1, 0); err == nil {
		t.Error("n = 0 accepted")
	}
}
