// Command exitnow is a test program that exits with status 3 as soon as it starts.
package main

import "os"

func main() { os.Exit(3) }
