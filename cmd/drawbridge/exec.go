package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/drawbridge/drawbridge/client"
	"github.com/spf13/cobra"
)

func newExecCmd(e *env) *cobra.Command {
	f := &accessFlags{}
	cmd := &cobra.Command{
		Use:   "exec MACHINE --port PORT -- COMMAND [ARGS...]",
		Short: "Open a port for your address, wait until it is open, then run a command",
		Long: `Open a port for your address, wait until it is open, then run a command.
In the command's arguments {host} and {port} are replaced by the machine's
address and the port.`,
		Example: `  drawbridge exec db-1 --port 5432 -- psql -h {host} -p {port} app
  drawbridge exec win-1 --port 3389 --host 10.0.0.9 -- xfreerdp /v:{host}:{port}`,
		Args: cobra.MinimumNArgs(2),
	}
	cf := addClientFlags(e, cmd)
	addAccessFlags(cmd, f, "port to open (required)")
	cmd.RunE = clientRunE(cf, func(cmd *cobra.Command, args []string, c *client.Client) error {
		if f.port == 0 {
			return fmt.Errorf("--port is required")
		}
		host, port, err := openAccess(cmd.Context(), e, c, args[0], f)
		if err != nil {
			return err
		}
		argv := make([]string, 0, len(args)-1)
		for _, a := range args[1:] {
			a = strings.ReplaceAll(a, "{host}", host)
			argv = append(argv, strings.ReplaceAll(a, "{port}", strconv.Itoa(int(port))))
		}
		return e.execve(argv)
	})
	return cmd
}
