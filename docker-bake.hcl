# The django-asgi image family. `docker buildx bake` builds the default line: the base and
# one image per server. Read it with `docker buildx bake --print`; every variable below can
# be set from the environment (PYTHON_VERSION=3.13 docker buildx bake).

variable "IMAGE_NAME" {
  default = "org/django-asgi"
}

variable "PYTHON_VERSION" {
  default = "3.14"
}

# The Python of the plain tags (:granian, :base); other Pythons get only -pyX.Y tags.
variable "DEFAULT_PYTHON_VERSION" {
  default = "3.14"
}

# The Django line the base's lock (images/base/requirements.txt) pins.
variable "DJANGO_VERSION" {
  default = "6.1"
}

variable "SOURCE_URL" {
  default = "https://github.com/org/django-asgi"
}

# The commit the images are built from; CI sets it (GITHUB_SHA).
variable "REVISION" {
  default = ""
}

variable "SERVERS" {
  default = ["daphne", "hypercorn", "uvicorn", "granian"]
}

# tags_for("granian") = [org/django-asgi:granian-py3.14, org/django-asgi:granian (default Python only)]
function "tags_for" {
  params = [flavour]
  result = concat(
    ["${IMAGE_NAME}:${flavour}-py${PYTHON_VERSION}"],
    PYTHON_VERSION == DEFAULT_PYTHON_VERSION ? ["${IMAGE_NAME}:${flavour}"] : []
  )
}

function "labels_for" {
  params = [flavour, description]
  result = merge(
    {
      "org.opencontainers.image.title"       = "django-asgi:${flavour}"
      "org.opencontainers.image.description" = description
      "org.opencontainers.image.source"      = SOURCE_URL
      "org.opencontainers.image.version"     = "${flavour}-py${PYTHON_VERSION}-django${DJANGO_VERSION}"
      "org.opencontainers.image.licenses"    = "MIT"
      "org.opencontainers.image.base.name"   = "docker.io/library/python:${PYTHON_VERSION}-slim"
    },
    REVISION == "" ? {} : { "org.opencontainers.image.revision" = REVISION }
  )
}

group "default" {
  targets = ["base", "server", "hypercorn-h3"]
}

# What the tests build on top of the family: the sample project on every server, and the
# toolbox that inspects running containers.
group "test" {
  targets = ["sample", "toolbox"]
}

# Settings every image shares.
target "_common" {
  args = {
    PYTHON_VERSION = PYTHON_VERSION
  }
}

target "base" {
  inherits = ["_common"]
  context  = "images/base"
  tags     = tags_for("base")
  labels   = labels_for("base", "Django ${DJANGO_VERSION} on Python ${PYTHON_VERSION} with the django-asgi launcher, for bringing your own ASGI server")
}

# What every variant shares: one Dockerfile, its context images/<variant>/, and the image it
# builds on given as the named context `parent`.
target "_variant" {
  inherits   = ["_common"]
  dockerfile = "../variant.Dockerfile"
}

target "server" {
  name     = server
  matrix   = { server = SERVERS }
  inherits = ["_variant"]
  context  = "images/${server}"
  contexts = { parent = "target:base" }
  args     = { ASGI_SERVER = server }
  tags     = tags_for(server)
  labels   = labels_for(server, "Django ${DJANGO_VERSION} served over ASGI by ${server} on Python ${PYTHON_VERSION}")
}

# hypercorn with HTTP/3 (QUIC, aioquic): its own tag because QUIC brings cryptography
# (+22 MB) that the many deployments terminating TLS at a proxy never use.
target "hypercorn-h3" {
  inherits = ["_variant"]
  context  = "images/hypercorn-h3"
  contexts = { parent = "target:hypercorn" }
  args     = { ASGI_SERVER = "hypercorn" }
  tags     = tags_for("hypercorn-h3")
  labels   = labels_for("hypercorn-h3", "Django ${DJANGO_VERSION} served over ASGI by hypercorn with HTTP/3 on Python ${PYTHON_VERSION}")
}

# The sample project as users add theirs: a Dockerfile FROM org/django-asgi:<server>,
# given the freshly built variant in place of the registry image.
target "sample" {
  name     = "sample-${flavour}"
  matrix   = { flavour = concat(SERVERS, ["hypercorn-h3"]) }
  inherits = ["_common"]
  context  = "sample_app"
  contexts = { "org/django-asgi:${flavour}" = "target:${flavour}" }
  args     = { SERVER = flavour }
  tags     = ["django-asgi-sample:${flavour}-py${PYTHON_VERSION}"]
}

target "toolbox" {
  inherits = ["_common"]
  context  = "tests/toolbox"
  tags     = ["django-asgi-toolbox:py${PYTHON_VERSION}"]
}
