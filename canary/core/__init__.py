"""The pure core: values in, values out; no connections, no clocks of its own."""
