"""Bilinear resampling of a Sentinel-1 product onto the 10 m pixels of a tile's patch grid.

The patch corners of the whole tile are transformed once into the source raster's pixel
space (pyproj); inside a patch the position of each 10 m pixel centre is the bilinear
interpolation of its patch's four corners (the map between two CRSs is smooth: over a 1200 m
patch the error is far below a millimetre). Each pixel then takes the bilinear interpolation of
the four source pixels around that position, in linear power. A pixel "touches" a source
pixel when that pixel has a non-zero weight; a patch is covered by a product when every
pixel of it touches only valid source pixels, so that no nodata can leak into it.

Work goes by chunks of patch rows: one windowed read of the source per chunk, index arithmetic
and gathers over whole arrays, never a loop over pixels.
"""

from __future__ import annotations

import numpy as np

from reben.grid import TileGrid

RESOLUTION = 10
SNAP = 1e-6
"""Source positions within this many pixels of a pixel centre are taken as on it (exactly
aligned grids would otherwise touch a neighbour with a weight of 1e-13)."""


class PatchSampler:
    """Source pixel positions of the 10 m pixels of a tile's patches, for one source grid."""

    def __init__(self, grid: TileGrid, src_crs, src_transform, chunk_pixels: int = 6_000_000):
        from pyproj import Transformer

        self.grid = grid
        self.px = grid.pixels(RESOLUTION)
        s = grid.patch_size_m
        xs = grid.ulx + s * np.arange(grid.n_cols + 1, dtype=np.float64)
        ys = grid.uly - s * np.arange(grid.n_rows + 1, dtype=np.float64)
        X, Y = np.meshgrid(xs, ys)
        transformer = Transformer.from_crs(grid.crs, src_crs, always_xy=True)
        SX, SY = transformer.transform(X, Y)
        inverse = ~src_transform
        col = inverse.a * SX + inverse.b * SY + inverse.c
        row = inverse.d * SX + inverse.e * SY + inverse.f
        # Positions in "pixel centre" units: source pixel (i, j) has its centre at (i, j).
        self.U, self.V = col - 0.5, row - 0.5
        if not (np.isfinite(self.U).all() and np.isfinite(self.V).all()):
            raise ValueError("patch corners do not transform into the source CRS")
        self.rows_per_chunk = max(1, chunk_pixels // (grid.n_cols * self.px * self.px))

    def chunks(self, rows: np.ndarray | None = None) -> list[tuple[int, int]]:
        """[y0, y1) ranges of patch rows, each at most rows_per_chunk long, covering `rows`
        (default: every row)."""
        rows = np.arange(self.grid.n_rows) if rows is None else np.unique(rows)
        out: list[tuple[int, int]] = []
        for y in rows:
            if out and y < out[-1][0] + self.rows_per_chunk:
                out[-1] = (out[-1][0], int(y) + 1)
            else:
                out.append((int(y), int(y) + 1))
        return out

    def window(self, y0: int, y1: int, x0: int, x1: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Source rows and columns [r0, r1), [c0, c1) that patches [x0, x1) x [y0, y1) can touch."""
        U, V = self.U[y0 : y1 + 1, x0 : x1 + 1], self.V[y0 : y1 + 1, x0 : x1 + 1]
        return (
            (int(np.floor(V.min())), int(np.floor(V.max())) + 2),
            (int(np.floor(U.min())), int(np.floor(U.max())) + 2),
        )

    def positions(self, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
        """Source positions (u, v) of every pixel centre of patches [x0, x1) x [y0, y1),
        as arrays of shape ((y1 - y0) * px, (x1 - x0) * px), px the patch's pixels at 10 m."""
        px = self.px
        t = (np.arange(px) + 0.5) / px
        out = []
        for E in (self.U[y0 : y1 + 1, x0 : x1 + 1], self.V[y0 : y1 + 1, x0 : x1 + 1]):
            # Along each row of corners, then between the top and bottom row of each patch.
            cols = (E[:, :-1, None] + (E[:, 1:] - E[:, :-1])[:, :, None] * t).reshape(E.shape[0], -1)
            grid = cols[:-1, None, :] + (cols[1:] - cols[:-1])[:, None, :] * t[None, :, None]
            grid = grid.reshape(-1, cols.shape[1])
            nearest = np.rint(grid)
            np.copyto(grid, nearest, where=np.abs(grid - nearest) < SNAP)
            out.append(grid)
        return out[0], out[1]


class Taps:
    """The four source pixels each output pixel touches, as flat indices into a window, and
    the bilinear weights; a neighbour with zero weight is replaced by the pixel itself."""

    def __init__(self, u: np.ndarray, v: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]):
        """`u` and `v` are consumed (overwritten) to keep the peak memory low."""
        width = cols[1] - cols[0]
        self.shape = u.shape
        j0 = np.floor(u)
        u -= j0  # u is now the weight of the right neighbour
        self.fx = u.astype(np.float32)
        i0 = np.floor(v)
        v -= i0
        self.fy = v.astype(np.float32)
        del u, v
        i0 -= rows[0]
        i0 *= width
        j0 -= cols[0]
        i0 += j0  # flat index of the upper-left neighbour (exact in float64)
        del j0
        i00 = i0.astype(np.int64)
        del i0
        step_x = (self.fx > 0).astype(np.int64)
        step_y = (self.fy > 0).astype(np.int64)
        step_y *= width
        i01 = i00 + step_x
        i10 = i00 + step_y
        step_y += i01
        self.idx = (i00, i01, i10, step_y)
        del step_x
        if i00.size and (i00.min() < 0 or self.idx[3].max() >= (rows[1] - rows[0]) * width):
            raise ValueError("source window does not hold every touched pixel")

    def bilinear(self, window: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of a float32 window; NaN wherever a touched pixel is NaN."""
        a = window.ravel()
        top = a.take(self.idx[0])
        right = a.take(self.idx[1])
        right -= top
        right *= self.fx
        top += right
        bottom = a.take(self.idx[2])
        right = a.take(self.idx[3])
        right -= bottom
        right *= self.fx
        bottom += right
        bottom -= top
        bottom *= self.fy
        top += bottom
        return top.reshape(self.shape)

    def all_valid(self, valid: np.ndarray) -> np.ndarray:
        """True where every touched pixel of a boolean window is True."""
        a = valid.ravel()
        out = a.take(self.idx[0])
        for idx in self.idx[1:]:
            out &= a.take(idx)
        return out.reshape(self.shape)


def patch_blocks(array: np.ndarray, px: int) -> np.ndarray:
    """View a (ny * px, nx * px) array as (ny, px, nx, px) patch blocks."""
    ny, nx = array.shape[0] // px, array.shape[1] // px
    return array.reshape(ny, px, nx, px)


def coverage(sampler: PatchSampler, read_valid, todo: np.ndarray) -> np.ndarray:
    """Which patches (flat, grid order) every pixel of which touches only valid source pixels.

    `read_valid(rows, cols)` gives the validity of a source window (False outside the raster).
    Only patches where `todo` is True are examined (the others are returned False). Per chunk,
    a summed-area table of the invalid pixels settles the patches whose whole neighbourhood is
    valid, or invalid; only patches on a nodata edge are checked pixel by pixel.
    """
    grid = sampler.grid
    todo = todo.reshape(grid.n_rows, grid.n_cols)
    covered = np.zeros_like(todo)
    rows_todo = np.flatnonzero(todo.any(axis=1))
    for y0, y1 in sampler.chunks(rows_todo):
        cols_todo = np.flatnonzero(todo[y0:y1].any(axis=0))
        x0, x1 = int(cols_todo.min()), int(cols_todo.max()) + 1
        rows, cols = sampler.window(y0, y1, x0, x1)
        valid = read_valid(rows, cols)
        if not valid.any():
            continue
        invalid = np.zeros((valid.shape[0] + 1, valid.shape[1] + 1), dtype=np.int64)
        np.cumsum(np.cumsum(~valid, axis=0), axis=1, out=invalid[1:, 1:])
        # Per patch: the bounding box of its corners in source pixels, plus the far neighbour.
        U, V = sampler.U[y0 : y1 + 1, x0 : x1 + 1], sampler.V[y0 : y1 + 1, x0 : x1 + 1]
        corners_u = np.stack([U[:-1, :-1], U[:-1, 1:], U[1:, :-1], U[1:, 1:]])
        corners_v = np.stack([V[:-1, :-1], V[:-1, 1:], V[1:, :-1], V[1:, 1:]])
        c_lo = np.clip(np.floor(corners_u.min(0)).astype(int) - cols[0], 0, valid.shape[1])
        c_hi = np.clip(np.floor(corners_u.max(0)).astype(int) + 2 - cols[0], 0, valid.shape[1])
        r_lo = np.clip(np.floor(corners_v.min(0)).astype(int) - rows[0], 0, valid.shape[0])
        r_hi = np.clip(np.floor(corners_v.max(0)).astype(int) + 2 - rows[0], 0, valid.shape[0])
        bad = invalid[r_hi, c_hi] - invalid[r_lo, c_hi] - invalid[r_hi, c_lo] + invalid[r_lo, c_lo]
        area = (r_hi - r_lo) * (c_hi - c_lo)
        block_todo = todo[y0:y1, x0:x1]
        covered[y0:y1, x0:x1] = block_todo & (bad == 0)
        for dy, dx in zip(*np.nonzero(block_todo & (bad > 0) & (bad < area))):
            y, x = y0 + int(dy), x0 + int(dx)
            u, v = sampler.positions(y, y + 1, x, x + 1)
            covered[y, x] = Taps(u, v, rows, cols).all_valid(valid).all()
    return covered.ravel()
