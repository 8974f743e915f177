// Command factory-demo shows factoryd's main job end to end with nothing configured: it builds
// factoryd, factoryctl and the tax-preparer example, starts the daemon in a temporary data
// directory, publishes and seals the example as a factory, runs a confined instance of it on a
// secret input, shows the result and what each party learns of it (the builder: the bill; the
// requestor: its own charges and usage), and stops, removing everything it made.
//
// Run as root, the builder and the requestor are two unix users (uids 61100 and 61101), so the
// daemon tells them apart by their sockets' credentials, as it would on a shared machine; run
// as an ordinary user, both are that user.
//
//	go run ./cmd/factory-demo
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "factory-demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	root, dir, socket string
	// uids of the two parties, when the demo can act as them (it runs as root).
	builder, requestor *uint32
}

// Who runs a step.
const (
	asBuilder   = "builder"
	asRequestor = "requestor"
)

func run(ctx context.Context) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "factory-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	d := &demo{root: root, dir: dir, socket: filepath.Join(dir, "factoryd.sock")}
	if os.Geteuid() == 0 {
		b, r := uint32(61100), uint32(61101)
		d.builder, d.requestor = &b, &r
		say("the builder runs factoryctl as uid %d, the requestor as uid %d", b, r)
	}
	if err := d.makeHomes(); err != nil {
		return err
	}
	say("building factoryd, factoryctl and the tax-preparer example into %s", dir)
	if err := d.build(); err != nil {
		return err
	}
	daemon, err := d.startDaemon(ctx)
	if err != nil {
		return err
	}
	defer d.stopDaemon(daemon)
	return d.script(ctx)
}

func (d *demo) script(ctx context.Context) error {
	rates := "rates=" + filepath.Join(d.root, "examples", "taxprep", "rates.txt")
	secret := "income=85000 deductions=12000"
	steps := []step{
		{as: asBuilder, say: "a builder publishes its tax preparer as a factory, with a rate table as an immutable\n" +
			"component, and seals it: from now on nothing can be installed into it. It will be paid\n" +
			"one \"returns\" unit per return, through the billing channel",
			args: []string{"factory", "new", "tax", "--program", d.bin("taxprep"), "--data", rates, "--charge", "returns=1", "--seal"}},
		{as: asBuilder, say: "another builder publishes the same program, but gives it a \"telemetry\" dropbox it reads",
			args: []string{"factory", "new", "freetax", "--program", d.bin("taxprep"), "--data", rates,
				"--hole", "telemetry=usage analytics", "--seal"}},
		{as: asRequestor, say: "before handing over a secret, the requestor audits both factories",
			args: []string{"factory", "audit", "tax"}},
		{as: asRequestor, args: []string{"factory", "audit", "freetax"}},
		{as: asRequestor, say: "and checks freetax against a policy: a factory whose holes are the ones it accepts (tax has none)",
			args: []string{"factory", "compare", "freetax", "tax"}},
		{as: asRequestor, say: "the requestor runs a confined instance of the discreet factory on its secret income: it\n" +
			"sees only the rate table and the input, in its own namespaces, with no network and an\n" +
			"empty read-only root. It consents to be charged at most 1 return per second, 5 in all",
			stdin: secret, args: []string{"run", "tax", "--input", "-", "--ceiling", "returns=1/5"}},
		{as: asRequestor, stdin: "income=42000", args: []string{"run", "tax", "--input", "-", "--ceiling", "returns=1/5"}},
		{as: asBuilder, say: "the builder's view: the bill, and nothing else — no input, no output, no resource use",
			args: []string{"billing", "ledger", "--factory", "tax"}},
		{as: asRequestor, say: "the requestor's view: its own charges, the chain they are in verified, and what each\n" +
			"instance consumed (its own records; never shown to the builder)",
			args: []string{"billing", "ledger"}},
		{as: asRequestor, args: []string{"billing", "verify", "--checkpoints", filepath.Join(d.home(asRequestor), "heads.json")}},
		{as: asRequestor, usage: true},
		{as: asRequestor, say: "had it trusted freetax instead, its builder would now read the secret from the dropbox",
			stdin: secret, args: []string{"run", "freetax", "--input", "-"}},
		{as: asBuilder, args: []string{"factory", "dropbox", "freetax", "telemetry"}},
		{as: asBuilder, say: "the audit log records what happened to the factories (instance events are the requestor's alone)",
			args: []string{"audit", "log", "--limit", "8"}},
	}
	for _, st := range steps {
		if st.say != "" {
			say("%s", st.say)
		}
		if st.usage {
			if err := d.showUsage(ctx, st.as); err != nil {
				return err
			}
			continue
		}
		if _, err := d.ctl(ctx, st.as, st.stdin, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// showUsage shows the usage of the requestor's first instance, then the builder's refusal.
func (d *demo) showUsage(ctx context.Context, as string) error {
	out, err := d.run(ctx, as, "", "billing", "ledger", "--json")
	if err != nil {
		return err
	}
	var entries []struct {
		Instance string `json:"instance"`
	}
	if err := json.Unmarshal(out, &entries); err != nil || len(entries) == 0 {
		return fmt.Errorf("no ledger entry to take an instance from: %v", err)
	}
	if _, err := d.ctl(ctx, as, "", "instance", "usage", entries[0].Instance); err != nil {
		return err
	}
	say("the builder asking for the same instance's usage is refused")
	d.ctl(ctx, asBuilder, "", "instance", "usage", entries[0].Instance)
	return nil
}

// step is one command of the demo, with what it shows.
type step struct {
	as    string // asBuilder or asRequestor
	say   string
	stdin string
	args  []string
	usage bool // show an instance's usage instead of running args
}

func (d *demo) bin(name string) string { return filepath.Join(d.dir, name) }

// home is a party's own directory in the demo's, where its factoryctl keeps files.
func (d *demo) home(as string) string { return filepath.Join(d.dir, as) }

func (d *demo) makeHomes() error {
	for as, uid := range map[string]*uint32{asBuilder: d.builder, asRequestor: d.requestor} {
		if err := os.Mkdir(d.home(as), 0o700); err != nil {
			return err
		}
		if uid != nil {
			if err := os.Chown(d.home(as), int(*uid), int(*uid)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *demo) build() error {
	cmd := exec.Command("go", "build", "-o", d.dir+string(filepath.Separator),
		"./cmd/factoryd", "./cmd/factoryctl", "./examples/taxprep")
	cmd.Dir = d.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

func (d *demo) startDaemon(ctx context.Context) (*exec.Cmd, error) {
	var log bytes.Buffer
	cmd := exec.Command(d.bin("factoryd"), "--data", filepath.Join(d.dir, "data"), "--socket", d.socket, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	say("started factoryd (pid %d) with its data in %s", cmd.Process.Pid, filepath.Join(d.dir, "data"))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", d.socket); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stopDaemon(cmd)
	return nil, fmt.Errorf("factoryd did not start:\n%s", log.String())
}

func (d *demo) stopDaemon(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			say("stopped factoryd; removing %s", d.dir)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// ctl runs factoryctl as a party with args, feeding it stdin, and shows the command and its
// output. A command that fails is shown with its error; that is an error of the demo unless
// the step expects it.
func (d *demo) ctl(ctx context.Context, as, stdin string, args ...string) ([]byte, error) {
	shown := append([]string{"factoryctl"}, args...)
	for i, a := range shown {
		a = strings.ReplaceAll(a, d.dir+"/", "")
		a = strings.ReplaceAll(a, d.root+"/", "")
		if strings.Contains(a, " ") {
			k, v, _ := strings.Cut(a, "=")
			a = fmt.Sprintf("%s=%q", k, v)
		}
		shown[i] = a
	}
	prefix := as + " $ "
	if stdin != "" {
		prefix = fmt.Sprintf("%s $ echo %q | ", as, stdin)
	}
	fmt.Println(prefix + strings.Join(shown, " "))
	out, err := d.run(ctx, as, stdin, args...)
	os.Stdout.Write(out)
	fmt.Println()
	return out, err
}

// run runs factoryctl as a party and returns what it printed (stdout, then stderr).
func (d *demo) run(ctx context.Context, as, stdin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.bin("factoryctl"), append([]string{"--socket", d.socket}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	uid := d.requestor
	if as == asBuilder {
		uid = d.builder
	}
	if uid != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: *uid, Gid: *uid}}
		cmd.Env = []string{"HOME=" + d.home(as), "PATH=/usr/bin:/bin"}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	out.Write(errOut.Bytes())
	return out.Bytes(), err
}

func say(format string, args ...any) {
	fmt.Print("# " + strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "\n# ") + "\n\n")
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the demo from inside the factoryd module (go run ./cmd/factory-demo)")
	}
	return filepath.Dir(mod), nil
}
