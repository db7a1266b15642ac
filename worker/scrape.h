/*
 * mg_scrape: `mangoo-worker metrics ENDPOINT [--timeout MS]`: ask one
 * worker for its metrics as the nginx module does (job "metrics") and
 * print the Prometheus text.
 */
#ifndef MG_SCRAPE_H
#define MG_SCRAPE_H

/* argv[0] is "metrics".  Exit status: 0, 1 (no or an error answer), 2
 * (usage). */
int mg_scrape_main(int argc, char **argv);

#endif
