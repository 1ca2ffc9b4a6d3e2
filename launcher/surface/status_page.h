/*
 * status_page.h - the --metrics address's "/": one self-contained HTML
 * page (status_page.html, compiled in as a string by embed_page.py at
 * build time).  probes.c serves it; its script reads /status.json.
 */
#ifndef LAUNCHER_SURFACE_STATUS_PAGE_H
#define LAUNCHER_SURFACE_STATUS_PAGE_H

extern const char status_page_html[];
extern const unsigned long status_page_html_len;

#endif
