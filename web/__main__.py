from web.main import main

main()
