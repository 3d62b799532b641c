package inventory

import "syscall"

// kernelRelease returns the running kernel's release, as uname -r prints it.
func kernelRelease() (string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release { // int8 or uint8, depending on the architecture
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b), nil
}
