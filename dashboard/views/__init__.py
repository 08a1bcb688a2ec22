"""The dashboard's pages: each module lays out one page; data comes through `dashboard.client`."""
