/** ZooKeeper's path rules (PathUtils.validatePath) and path helpers. */

function invalid(path: string, reason: string): string {
  return `Invalid path string "${path}" caused by ${reason}`;
}

/**
 * PathUtils.validatePath: null when `path` is a valid znode path, else the reason.
 * With `isSequential`, a trailing "/" is allowed (the server appends the suffix).
 */
export function validatePath(path: string, isSequential: boolean): string | null {
  return checkPath(isSequential ? `${path}1` : path);
}

function checkPath(path: string): string | null {
  if (path.length === 0) return "Path length must be > 0";
  if (path[0] !== "/") return "Path must start with / character";
  if (path.length === 1) return null;
  if (path[path.length - 1] === "/") return "Path must not end with / character";
  let last = "/";
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    const char = path[i]!;
    let reason: string | null = null;
    if (c === 0) reason = `null character not allowed @${i}`;
    else if (char === "/" && last === "/") reason = `empty node name specified @${i}`;
    else if (char === "." && last === ".") {
      if (path[i - 2] === "/" && (i + 1 === path.length || path[i + 1] === "/")) {
        reason = `relative paths not allowed @${i}`;
      }
    } else if (char === ".") {
      if (path[i - 1] === "/" && (i + 1 === path.length || path[i + 1] === "/")) {
        reason = `relative paths not allowed @${i}`;
      }
    } else if (
      (c > 0x0000 && c <= 0x001f) ||
      (c >= 0x007f && c <= 0x009f) ||
      (c >= 0xd800 && c <= 0xf8ff) ||
      (c >= 0xfff0 && c <= 0xffff)
    ) {
      reason = `invalid character @${i}`;
    }
    if (reason !== null) return invalid(path, reason);
    last = char;
  }
  return null;
}

/** The parent of a path as ZooKeeper computes it: "" for children of the root. */
export function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/** The last component of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
