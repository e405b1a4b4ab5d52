package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// User is one identity the register scenario signs in as.
type User struct {
	Name, Password string
}

// ReadUsers reads "user;password" lines. Blank lines, '#' comments and a
// SIPp-style SEQUENTIAL/RANDOM first line are skipped, so one file can
// serve both tools' simple cases.
func ReadUsers(r io.Reader) ([]User, error) {
	var users []User
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || (n == 1 && (line == "SEQUENTIAL" || line == "RANDOM")) {
			continue
		}
		name, pass, ok := strings.Cut(line, ";")
		if !ok || !validUser(name) || strings.ContainsAny(pass, "\r\n\x00") {
			return nil, fmt.Errorf("bench: users line %d: want user;password", n)
		}
		users = append(users, User{Name: name, Password: pass})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: reading users: %w", err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("bench: no users")
	}
	return users, nil
}

// ReadUsersFile is ReadUsers on a file.
func ReadUsersFile(path string) ([]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	return ReadUsers(f)
}

// UserRange is a provisioned range: user i (first ≤ i < first+n) is
// fmt.Sprintf(userFmt, i) with password fmt.Sprintf(passFmt, i).
func UserRange(userFmt, passFmt string, first, n int) ([]User, error) {
	if n <= 0 {
		return nil, fmt.Errorf("bench: user range: n = %d, want > 0", n)
	}
	users := make([]User, n)
	for i := range users {
		u := User{Name: fmt.Sprintf(userFmt, first+i), Password: fmt.Sprintf(passFmt, first+i)}
		if !validUser(u.Name) || strings.Contains(u.Name, "%!") || strings.Contains(u.Password, "%!") {
			return nil, fmt.Errorf("bench: user range: format %q/%q gives %q/%q", userFmt, passFmt, u.Name, u.Password)
		}
		users[i] = u
	}
	return users, nil
}
