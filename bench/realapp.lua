-- The real-app workload: locallibrary's sync pages in turn (each reads with the ORM and
-- renders a template; the home page also writes the session), as wrk's request().
local paths = {
  "/catalog/", "/catalog/books/", "/catalog/books/?page=2", "/catalog/authors/",
  "/catalog/book/7", "/catalog/author/3", "/catalog/genres/",
}
local next_path = 0

request = function()
  next_path = next_path % #paths + 1
  return wrk.format("GET", paths[next_path])
end
