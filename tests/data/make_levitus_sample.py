#!/usr/bin/python3
"""Writes levitus_sample.csv: a small, real regression problem for the tests and the
README's first run. 4000 ocean cells drawn (seed 2026) from the Levitus climatology
in Debian's ferret-datasets (/usr/share/ferret-vis/data/levitus_climatology.cdf),
land and missing cells excluded. Columns: lat, lon (degrees E, 0-360), depth (m),
sin_lon, cos_lon, log_depth = ln(1 + depth), temp (deg C), salt (PSU).
Run: /usr/bin/python3 tests/data/make_levitus_sample.py (needs python3-netcdf4)."""
import os
import numpy as np
import netCDF4

SOURCE = '/usr/share/ferret-vis/data/levitus_climatology.cdf'
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'levitus_sample.csv')

ds = netCDF4.Dataset(SOURCE)
lon = ds['XAXLEVITR'][:].data % 360.0
lat = ds['YAXLEVITR'][:].data
depth = ds['ZAXLEVITR'][:].data
temp = ds['TEMP'][:]
salt = ds['SALT'][:]
valid = ~np.ma.getmaskarray(temp) & ~np.ma.getmaskarray(salt)
k, j, i = np.nonzero(valid)
rng = np.random.default_rng(2026)
pick = np.sort(rng.choice(len(k), size=4000, replace=False))
k, j, i = k[pick], j[pick], i[pick]
rows = np.c_[lat[j], lon[i], depth[k], np.sin(np.radians(lon[i])), np.cos(np.radians(lon[i])),
             np.log1p(depth[k]), temp.data[k, j, i], salt.data[k, j, i]]
with open(OUT, 'w') as f:
    f.write('lat,lon,depth,sin_lon,cos_lon,log_depth,temp,salt\n')
    for r in rows:
        f.write('%.3f,%.3f,%.1f,%.6f,%.6f,%.6f,%.4f,%.4f\n' % tuple(r))
print('wrote', OUT, len(rows), 'rows')
