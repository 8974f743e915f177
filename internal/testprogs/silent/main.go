// Command silent is a test program that never answers on fd 3: it holds the connection open
// and does nothing, so its start must time out.
package main

import (
	"os"
	"time"
)

func main() {
	if os.Getpid() != 1 {
		os.Exit(3)
	}
	for {
		time.Sleep(time.Hour)
	}
}
