package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/client"
)

// execProcess replaces this process with argv[0] found in PATH.
func execProcess(argv []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s not found in PATH", argv[0])
	}
	return syscall.Exec(path, argv, os.Environ())
}

// accessFlags are what ssh and exec ask for.
type accessFlags struct {
	port                  uint16
	duration, reason      string
	host                  string
	approvalWait, timeout time.Duration
}

func addAccessFlags(cmd *cobra.Command, f *accessFlags, portHelp string) {
	fl := cmd.Flags()
	fl.Uint16Var(&f.port, "port", 0, portHelp)
	fl.StringVar(&f.duration, "duration", "", "how long (default: 1h, or the policy's maximum if lower)")
	fl.StringVar(&f.reason, "justification", "", "why you need access")
	fl.StringVar(&f.host, "host", "", "address to connect to (default: the machine's first reported address)")
	fl.DurationVar(&f.timeout, "wait-timeout", 30*time.Second, "how long to wait for the agent to open the port")
	fl.DurationVar(&f.approvalWait, "approval-timeout", 15*time.Minute, "how long to wait for approval when the policy needs one")
}

// openAccess requests port on machine from the caller's address, waits
// until it is open (and approved, if needed) and returns the host to dial.
func openAccess(ctx context.Context, e *env, c *client.Client, machine string, f *accessFlags) (string, uint16, error) {
	m, err := c.Machine(ctx, machine)
	if err != nil {
		return "", 0, err
	}
	port := f.port
	if port == 0 {
		if m.Policy == nil || !m.Policy.Enabled || len(m.Policy.Rules) == 0 {
			return "", 0, fmt.Errorf("machine %s has no enabled JIT policy", m.Name)
		}
		port = m.Policy.Rules[0].Port
		for _, r := range m.Policy.Rules {
			if r.Port == 22 {
				port = 22
			}
		}
	}
	host := f.host
	if host == "" {
		if len(m.Inventory.Addresses) == 0 {
			return "", 0, fmt.Errorf("machine %s reported no address; give --host", m.Name)
		}
		host, _, _ = strings.Cut(m.Inventory.Addresses[0], "/")
	}
	in := d.RequestInput{Targets: []d.MachineTargets{{Machine: machine, Ports: []d.PortTarget{{Port: port}}}}, Duration: f.duration, Justification: f.reason}
	r, err := c.RequestCreate(ctx, in, applyWait(f.timeout))
	if err != nil {
		return "", 0, err
	}
	if r, err = awaitOpen(ctx, e, c, r, f.approvalWait, applyWait(f.timeout)); err != nil {
		return "", 0, err
	}
	for _, t := range r.Targets {
		fmt.Fprintf(e.stderr, "%s: %s %d/%s open for %s until %s (open in %s)\n", r.ID, safe(t.MachineName), t.Port, t.Protocol, t.Source, ts8601(t.End), roundLatency(t.ApplyLatency.Std()))
	}
	return host, port, nil
}

func newSSHCmd(e *env) *cobra.Command {
	f := &accessFlags{}
	var login string
	cmd := &cobra.Command{
		Use:   "ssh MACHINE [-- SSH_ARGS...]",
		Short: "Open the machine's SSH port for your address, wait until it is open, then run ssh",
		Example: `  drawbridge ssh web-1
  drawbridge ssh web-1 --login admin --duration 30m -- -A`,
		Args: cobra.MinimumNArgs(1),
	}
	cf := addClientFlags(e, cmd)
	addAccessFlags(cmd, f, "port to open (default: 22 if the policy has it, else its first port)")
	cmd.Flags().StringVarP(&login, "login", "l", "", "remote user name")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		host, port, err := openAccess(cmd.Context(), e, c, args[0], f)
		if err != nil {
			return err
		}
		argv := []string{"ssh", "-p", strconv.Itoa(int(port))}
		if login != "" {
			argv = append(argv, "-l", login)
		}
		argv = append(argv, args[1:]...)
		argv = append(argv, host)
		return e.execve(argv)
	})
	return cmd
}
