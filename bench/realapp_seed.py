"""The real-app benchmark's data (run by `manage.py shell` at build time): a library of 60
books by 30 authors, 3 copies each, in 4 genres, so that every list page has 10 rows and a
second page, as the project's own pagination (paginate_by = 10) shows them."""

from catalog.models import Author, Book, BookInstance, Genre, Language

genres = [Genre.objects.create(name=name) for name in ("Fiction", "History", "Science", "Poetry")]
language = Language.objects.create(name="English")
for number in range(60):
    if number < 30:
        Author.objects.create(first_name=f"Ada{number}", last_name=f"Writer{number}", date_of_birth="1900-01-01")
    book = Book.objects.create(
        title=f"Book number {number}",
        author=Author.objects.get(last_name=f"Writer{number % 30}"),
        summary="A summary of the book, long enough to be a paragraph on the page. " * 4,
        isbn=f"{number:013d}",
        language=language,
    )
    book.genre.add(genres[number % len(genres)])
    for copy in range(3):
        BookInstance.objects.create(book=book, imprint=f"Imprint {copy}", status="a" if copy else "o")
