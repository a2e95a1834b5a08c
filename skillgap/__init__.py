"""The launcher: the `skillgap` command, `skillgap run` and the processes it starts. The only
package that may import every other one."""
