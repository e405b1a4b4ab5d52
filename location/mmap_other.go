//go:build !linux

package location

import "os"

// mapFile is not available here: LoadFile streams the file instead.
func mapFile(*os.File) ([]byte, func(), error) { return nil, nil, errNoMap }
