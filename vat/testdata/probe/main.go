// Command probe reports what a vat looks like from inside, as JSON on fd 3. It is a test
// fixture of package vat; it refuses to run unless it is pid 1 with fd 3 a socket.
package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

type report struct {
	Pid        int      `json:"pid"`
	UID        int      `json:"uid"`
	GID        int      `json:"gid"`
	Groups     []int    `json:"groups"`
	Env        []string `json:"env"`
	FDs        []int    `json:"fds"`
	Root       []string `json:"root"`
	Interfaces []string `json:"interfaces"`
	Hostname   string   `json:"hostname"`
	CreateErr  string   `json:"create_err"`
	WalkErr    string   `json:"walk_err"`
	NetErr     string   `json:"net_err"`
	Args       []string `json:"args"`
}

func main() {
	if os.Getpid() != 1 {
		os.Exit(3)
	}
	var r report
	r.Pid, r.UID, r.GID, r.Env, r.Args = os.Getpid(), os.Getuid(), os.Getgid(), os.Environ(), os.Args
	r.Groups, _ = os.Getgroups()
	for fd := 0; fd < 1024; fd++ {
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil {
			r.FDs = append(r.FDs, fd)
		}
	}
	filepath.Walk("/", func(p string, info os.FileInfo, err error) error {
		if err == nil {
			r.Root = append(r.Root, p+" "+strconv.FormatUint(uint64(info.Mode()), 8))
		} else if r.WalkErr == "" {
			r.WalkErr = err.Error()
		}
		return nil
	})
	ifs, err := net.Interfaces()
	if err != nil {
		r.NetErr = err.Error()
	}
	for _, i := range ifs {
		r.Interfaces = append(r.Interfaces, i.Name)
	}
	r.Hostname, _ = os.Hostname()
	if f, err := os.Create("/tmp-probe"); err != nil {
		r.CreateErr = err.Error()
	} else {
		f.Close()
	}
	conn := os.NewFile(3, "rpc")
	json.NewEncoder(conn).Encode(&r)
	os.Stdout.WriteString("probe stdout\n")
	os.Stderr.WriteString("probe stderr\n")
	buf := make([]byte, 1)
	if n, _ := conn.Read(buf); n == 1 { // hold until the test says what to do
		switch buf[0] {
		case 'm':
			hogMemory()
		case 'c':
			for { // burn CPU
			}
		case 't':
			hogThreads()
		}
		os.Exit(int(buf[0]))
	}
}

// hogMemory touches ever more memory until something stops it.
func hogMemory() {
	var hoard [][]byte
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		hoard = append(hoard, b)
	}
}

// hogThreads makes ever more OS threads, each blocked in a syscall.
func hogThreads() {
	for {
		go func() {
			runtime.LockOSThread()
			for {
				syscall.Nanosleep(&syscall.Timespec{Sec: 3600}, nil)
			}
		}()
		time.Sleep(time.Millisecond)
	}
}
