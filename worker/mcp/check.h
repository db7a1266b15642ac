/* mcp check: `mangoo-worker mcp-check`, the MCP client from the command
 * line (check.c).  argv[0] is "mcp-check"; returns the exit code. */
#ifndef MG_MCP_CHECK_H
#define MG_MCP_CHECK_H

int mg_mcp_check_main(int argc, char **argv);

#endif
